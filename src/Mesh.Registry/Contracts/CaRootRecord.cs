namespace Mesh.Registry.Contracts;

/// <summary>One CA root as <c>GET /v1/ca/roots</c> lists it.</summary>
internal sealed class CaRootRecord
{
    public string Id { get; set; } = string.Empty;

    public bool Active { get; set; }

    public string Subject { get; set; } = string.Empty;

    public string Sha256 { get; set; } = string.Empty;

    /// <summary>The root's pin as clients write it in <c>Mesh:Registry:CaFingerprint</c>: <c>sha256:</c> and lower-case hex.</summary>
    public string Fingerprint { get; set; } = string.Empty;

    public DateTimeOffset NotBefore { get; set; }

    public DateTimeOffset NotAfter { get; set; }

    public string Certificate { get; set; } = string.Empty;
}
