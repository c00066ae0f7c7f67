namespace Mesh.Registry.Contracts;

/// <summary>Body of <c>GET /v1/ca/roots</c>.</summary>
internal sealed class CaRootsResponse
{
    public long Index { get; set; }

    public List<CaRootRecord> Roots { get; set; } = [];
}
