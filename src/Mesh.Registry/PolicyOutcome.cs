namespace Mesh.Registry;

internal enum PolicyOutcome
{
    Changed,
    Unchanged,
    NotFound,
    IsDeletion,
}
