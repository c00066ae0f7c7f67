namespace Mesh.Client.Registry;

/// <summary>Body of <c>GET /v1/services</c>.</summary>
public sealed class ServicesResponse
{
    public long Index { get; set; }

    public List<ServiceSummary> Services { get; set; } = [];
}
