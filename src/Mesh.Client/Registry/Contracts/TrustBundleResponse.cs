namespace Mesh.Client.Registry;

/// <summary>Body of <c>GET /v1/trust-bundle</c>: every root a workload must trust (more than one during a rotation).</summary>
public sealed class TrustBundleResponse
{
    public long Index { get; set; }

    public string TrustDomain { get; set; } = string.Empty;

    public List<string> Roots { get; set; } = [];
}
