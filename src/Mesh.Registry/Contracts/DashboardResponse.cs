namespace Mesh.Registry.Contracts;

/// <summary>Body of <c>GET /v1/dashboard</c>: everything the registry's dashboard shows, in one read.</summary>
internal sealed class DashboardResponse
{
    public DateTimeOffset Now { get; set; }

    public long Index { get; set; }

    public List<DashboardService> Services { get; set; } = [];

    public List<DashboardEdge> Edges { get; set; } = [];
}
