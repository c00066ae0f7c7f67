namespace Mesh.Registry.Store;

internal enum PolicyOutcome
{
    /// <summary>A new version was written.</summary>
    Changed,

    /// <summary>The document is the current one already; no version was written.</summary>
    Unchanged,

    /// <summary>A deletion of a policy that has no document; no version was written.</summary>
    NotFound,

    /// <summary>The current version is not the one the writer expected; no version was written.</summary>
    VersionMismatch,
}
