namespace Mesh.Registry.Contracts;

/// <summary>Body of <c>GET /v1/policies/{service}/history</c>, newest first.</summary>
internal sealed class PolicyHistoryResponse
{
    public string Service { get; set; } = string.Empty;

    public List<PolicyVersionRecord> Versions { get; set; } = [];
}
