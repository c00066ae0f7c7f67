namespace Mesh.Registry.Contracts;

internal sealed class DashboardService
{
    public string Name { get; set; } = string.Empty;

    public long PolicyVersion { get; set; }

    public DateTimeOffset? PolicyUpdatedAt { get; set; }

    public List<DashboardInstance> Instances { get; set; } = [];
}
