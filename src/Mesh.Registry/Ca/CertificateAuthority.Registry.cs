using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Security;

namespace Mesh.Registry.Ca;

/// <summary>The CA's part in the registry's own TLS: its server certificate, and the roots client certificates are checked against.</summary>
internal sealed partial class CertificateAuthority
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");

    private X509Certificate2Collection? _publicRoots;
    private long _publicRootsIndex;

    /// <summary>Grows with every change to the trusted roots or the active one.</summary>
    public long Index
    {
        get
        {
            lock (_gate)
            {
                return _index;
            }
        }
    }

    /// <summary>The active root's pin, <c>sha256:&lt;hex&gt;</c>, as clients give it in <c>Mesh:Registry:CaFingerprint</c>.</summary>
    public string ActiveRootFingerprint
    {
        get
        {
            lock (_gate)
            {
                return CaFingerprint.Of(_active.Certificate);
            }
        }
    }

    /// <summary>The active root's certificate file (PEM), what clients give in <c>Mesh:Registry:CaFile</c>.</summary>
    public string ActiveRootFile => Path.Combine(Directory, ActiveRootId + ".crt.pem");

    /// <summary>The trusted roots without their keys, with the index they are current for.</summary>
    public (X509Certificate2Collection Roots, long Index) TrustedRoots()
    {
        lock (_gate)
        {
            if (_publicRoots is null || _publicRootsIndex != _index)
            {
                var roots = new X509Certificate2Collection();
                foreach (var root in _roots)
                {
                    roots.Add(X509CertificateLoader.LoadCertificate(root.Certificate.RawData));
                }

                _publicRoots = roots;
                _publicRootsIndex = _index;
            }

            return (_publicRoots, _index);
        }
    }

    /// <summary>
    /// A server certificate for the registry itself (<c>spiffe://&lt;trust domain&gt;/registry</c> and the given names),
    /// with a fresh P-256 key, signed by the active root, and that root (public only) to send with it.
    /// </summary>
    public (X509Certificate2 Certificate, X509Certificate2 Root, string RootId) IssueRegistryCertificate(IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses)
    {
        CaRoot issuer;
        lock (_gate)
        {
            issuer = _active;
        }

        var now = _time.GetUtcNow();
        var notAfter = now + _options.CertificateLifetime;
        if (notAfter > issuer.Certificate.NotAfter.ToUniversalTime())
        {
            notAfter = issuer.Certificate.NotAfter.ToUniversalTime();
        }

        // Not disposed: the certificate returned keeps using it.
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN=MeshLib registry, O={TrustDomain}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(SpiffeId.ForRegistry(TrustDomain)));
        foreach (var name in dnsNames.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            san.AddDnsName(name);
        }

        foreach (var address in addresses.Distinct())
        {
            san.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Certificate, true, false));

        using var issuerKey = issuer.Certificate.GetECDsaPrivateKey()!;
        using var signed = request.Create(issuer.Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), now - Backdate, notAfter,
            SerialNumber());
        LogRegistrySigned(_logger, signed.SerialNumber, notAfter, issuer.Id);
        return (signed.CopyWithPrivateKey(key), X509CertificateLoader.LoadCertificate(issuer.Certificate.RawData), issuer.Id);
    }

    [LoggerMessage(112, LogLevel.Information, "Mesh CA: signed the registry's own certificate, serial {Serial} valid until {NotAfter:O} with root {Root}")]
    private static partial void LogRegistrySigned(ILogger logger, string serial, DateTimeOffset notAfter, string root);
}
