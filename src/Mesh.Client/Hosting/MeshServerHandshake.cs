using System.Diagnostics.CodeAnalysis;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Security;

namespace Mesh.Client.Hosting;

/// <summary>
/// One inbound TLS handshake with the workload credentials in force when it began: the certificate to present and
/// the check of the caller's. A hosting seam, from <see cref="MeshServerSecurity.BeginHandshake"/>.
/// </summary>
public sealed class MeshServerHandshake
{
    private readonly MeshSecurity _security;
    private readonly WorkloadCredentials _credentials;

    internal MeshServerHandshake(MeshSecurity security, WorkloadCredentials credentials)
    {
        _security = security;
        _credentials = credentials;
    }

    /// <summary>The workload certificate and its chain, to present to the caller.</summary>
    public SslStreamCertificateContext ServerCertificate => _credentials.ServerContext;

    /// <summary>The mesh's trust domain, the authority of every SPIFFE ID in it.</summary>
    public string TrustDomain => _credentials.TrustDomain;

    /// <summary>
    /// Whether <paramref name="certificate"/> proves a mesh service: chained to the mesh's roots (the intermediates
    /// of <paramref name="presented"/> are used, its trust decisions are not), in this trust domain. On success
    /// <paramref name="service"/> is the service and <paramref name="version"/> the version it proves (null when it
    /// carries none); otherwise <paramref name="reason"/> says why, as the rejection counter labels it.
    /// </summary>
    public bool TryVerifyClient(X509Certificate certificate, X509Chain? presented, [NotNullWhen(true)] out string? service,
        out string? version, out string reason)
    {
        service = _security.Verify(certificate, presented, _credentials, out reason, out version);
        return service is not null;
    }
}
