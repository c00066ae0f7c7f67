using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Security;

namespace Mesh.Registry.Ca;

/// <summary>
/// Authenticates a caller by the mesh certificate it presented in the TLS handshake: a chain to one of the CA's trusted
/// roots (nothing else: <see cref="X509ChainTrustMode.CustomRootTrust"/>), valid now, for client authentication, with
/// exactly one SPIFFE ID <c>spiffe://&lt;trust domain&gt;/svc/&lt;service&gt;</c>. Such a caller acts as that service's
/// join token does, so a workload needs its token only for its first certificate.
/// </summary>
/// <remarks>
/// TLS accepts any client certificate (Kestrel's <c>AllowCertificate</c>); the decision is made here, per request, so a
/// root removed from the trust bundle stops authenticating connections that are already open. The chain is built once
/// per connection and trusted-roots change, not per request: heartbeats reuse connections.
/// </remarks>
internal sealed class RegistryCertificateAuth(CertificateAuthority ca, TimeProvider time)
{
    private readonly ConditionalWeakTable<X509Certificate2, Verdict> _verdicts = [];

    /// <summary>The service the connection's client certificate proves, or null (no certificate, or one the mesh does not trust).</summary>
    public RegistryCaller? Authenticate(HttpContext context)
    {
        if (context.Connection.ClientCertificate is not { } certificate)
        {
            return null;
        }

        var now = time.GetUtcNow();
        if (now < certificate.NotBefore.ToUniversalTime() || now > certificate.NotAfter.ToUniversalTime())
        {
            return null;
        }

        var (roots, index) = ca.TrustedRoots();
        if (_verdicts.TryGetValue(certificate, out var verdict) && verdict.Index == index)
        {
            return verdict.Caller;
        }

        var caller = Verify(certificate, roots, now);
        _verdicts.AddOrUpdate(certificate, new Verdict(index, caller));
        return caller;
    }

    private RegistryCaller? Verify(X509Certificate2 certificate, X509Certificate2Collection roots, DateTimeOffset now)
    {
        using var chain = MeshChain.Create(roots, now, MeshChain.ClientAuth);
        try
        {
            if (!chain.Build(certificate))
            {
                return null;
            }
        }
        catch (CryptographicException)
        {
            return null;
        }

        return SpiffeId.ServiceOf(certificate, ca.TrustDomain) is { } service
            ? new RegistryCaller(false, RegistryNames.Service(service), BoundVersion: WorkloadVersion.Of(certificate), ByCertificate: true)
            : null;
    }

    private sealed record Verdict(long Index, RegistryCaller? Caller);
}
