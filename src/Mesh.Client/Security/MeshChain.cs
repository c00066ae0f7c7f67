using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Client.Security;

/// <summary>
/// The one way the mesh builds a certificate chain, for workload peers, the registry's own certificate and the
/// registry's clients alike: trust exactly the given roots (<see cref="X509ChainTrustMode.CustomRootTrust"/>: the
/// machine's store means nothing in the mesh), at the mesh clock's time rather than the machine's, with no revocation
/// lookups (certificates are short-lived and renewed instead), and for the stated use when one is given.
/// </summary>
public static class MeshChain
{
    // Properties, not shared fields: an Oid is mutable, and a caller changing a shared one would change every chain.

    /// <summary>id-kp-serverAuth.</summary>
    public static Oid ServerAuth => new("1.3.6.1.5.5.7.3.1");

    /// <summary>id-kp-clientAuth.</summary>
    public static Oid ClientAuth => new("1.3.6.1.5.5.7.3.2");

    /// <summary>A chain trusting <paramref name="roots"/> only, checked at <paramref name="now"/>; the caller disposes it.</summary>
    public static X509Chain Create(X509Certificate2Collection roots, DateTimeOffset now, Oid? usage = null)
    {
        var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.RevocationMode = X509RevocationMode.NoCheck;
        policy.CustomTrustStore.AddRange(roots);
        if (usage is not null)
        {
            policy.ApplicationPolicy.Add(usage);
        }

        policy.VerificationTime = now.UtcDateTime;
        policy.VerificationTimeIgnored = false;
        return chain;
    }
}
