namespace Mesh.Client;

/// <summary>
/// What this app's mesh knows right now: the services it routes to, with their endpoints and routes, and how fresh its
/// view of the registry is. The next mesh call routes by exactly this view, so it is what a readiness check, a
/// diagnostics page or a test waiting for a policy change to arrive should read. Registered by <c>AddMeshClient()</c>
/// and <c>AddMesh()</c>.
/// </summary>
public interface IMeshStatus
{
    /// <summary>The services the mesh routes to, by name (case-insensitive): a copy taken at the call.</summary>
    IReadOnlyDictionary<string, MeshServiceStatus> Services { get; }

    /// <summary>Whether the registry answers; false while this app routes on its last known state, and without a registry.</summary>
    bool RegistryConnected { get; }

    /// <summary>
    /// Time since this app last heard from the registry (or since its cache was written); null without a registry, or
    /// when it never answered and no cache was found.
    /// </summary>
    TimeSpan? RegistrySnapshotAge { get; }
}
