using Mesh.Client.Configuration;

namespace Mesh.Client;

/// <summary>
/// The mesh's own checks of a policy document and of names, for whoever must accept or refuse them before a client
/// does: the registry on <c>PUT</c> and <c>validate</c>, the policy command line, a CI step. They run the very reader
/// and validator <c>AddMesh()</c> runs, so a document accepted here is one every client accepts.
/// </summary>
public static class MeshPolicyValidation
{
    /// <summary>
    /// Whether <paramref name="name"/> is a valid service, subset, version, zone or instance name: 1 to 63 ASCII letters,
    /// digits, <c>-</c>, <c>_</c> or <c>.</c>, so it works as a host in <c>http://name/</c>.
    /// </summary>
    public static bool IsValidName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return PolicyValidator.IsValidName(name);
    }

    /// <summary>
    /// Reads a registry policy document (the JSON of <c>Mesh:Services:&lt;name&gt;</c> without <c>Endpoints</c>) and
    /// returns every error with its path (<c>Routes:1:Destinations: ...</c>), in document order; empty when the document
    /// is valid.
    /// </summary>
    public static IReadOnlyList<string> Validate(Stream document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return PolicyDocumentReader.Read(document).Errors;
    }
}
