namespace Mesh.Client.Registry;

/// <summary>
/// Answer of <c>POST /v1/watch</c>: the registry's index when it answered, and the full current state of every named
/// service that changed after the request's <c>index</c> (every named service without one). Services that did not
/// change are left out; a caller resumes from <see cref="Index"/> and misses no change.
/// </summary>
public sealed class ServicesWatchResponse
{
    public long Index { get; set; }

    public List<ServiceState> Services { get; set; } = [];
}
