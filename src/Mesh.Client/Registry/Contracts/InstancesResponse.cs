namespace Mesh.Client.Registry;

/// <summary>Body of <c>GET /v1/services/{service}/instances</c>.</summary>
public sealed class InstancesResponse
{
    public long Index { get; set; }

    public List<InstanceRecord> Instances { get; set; } = [];
}
