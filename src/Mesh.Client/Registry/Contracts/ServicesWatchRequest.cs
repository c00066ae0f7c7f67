namespace Mesh.Client.Registry;

/// <summary>Body of <c>POST /v1/watch</c>: the services one long poll watches, by name (at most 1000).</summary>
public sealed class ServicesWatchRequest
{
    public List<string> Services { get; set; } = [];
}
