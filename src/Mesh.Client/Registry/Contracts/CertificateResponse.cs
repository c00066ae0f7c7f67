namespace Mesh.Client.Registry;

/// <summary>A signed workload certificate, its chain up to (not including) the root, and the roots to trust, all PEM.</summary>
public sealed class CertificateResponse
{
    public string Certificate { get; set; } = string.Empty;

    public List<string> Chain { get; set; } = [];

    public List<string> TrustBundle { get; set; } = [];

    public string SpiffeId { get; set; } = string.Empty;

    public DateTimeOffset NotAfter { get; set; }
}
