using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Client.Security;

/// <summary>
/// What a workload proves itself with and whom it trusts, at one moment: its certificate (with the private key, which
/// never leaves the process), the intermediates up to a root, and the roots of the trust bundle. Immutable: a renewal
/// or a new trust bundle publishes a new instance with one reference swap, so a handshake sees one consistent set.
/// </summary>
internal sealed class WorkloadCredentials
{
    public WorkloadCredentials(X509Certificate2 certificate, X509Certificate2Collection intermediates, X509Certificate2Collection roots,
        string trustDomain, string service)
    {
        Certificate = certificate;
        Intermediates = intermediates;
        Roots = roots;
        TrustDomain = trustDomain;
        Service = service;
        NotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        ServerContext = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
    }

    public X509Certificate2 Certificate { get; }

    public X509Certificate2Collection Intermediates { get; }

    public X509Certificate2Collection Roots { get; }

    public string TrustDomain { get; }

    public string Service { get; }

    public DateTimeOffset NotAfter { get; }

    /// <summary>Built once per certificate: the server side hands it to every handshake.</summary>
    public SslStreamCertificateContext ServerContext { get; }

    /// <summary>The same certificate with another trust bundle.</summary>
    public WorkloadCredentials WithRoots(X509Certificate2Collection roots) => new(Certificate, Intermediates, roots, TrustDomain, Service);
}
