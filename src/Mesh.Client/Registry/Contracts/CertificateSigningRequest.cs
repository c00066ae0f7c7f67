namespace Mesh.Client.Registry;

/// <summary>Body of <c>POST /v1/certificates</c>: a PKCS#10 request in PEM; <see cref="Service"/> only with the admin token.</summary>
public sealed class CertificateSigningRequest
{
    public string? Csr { get; set; }

    public string? Service { get; set; }
}
