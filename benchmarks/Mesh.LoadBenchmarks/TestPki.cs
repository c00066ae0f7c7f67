using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// A throwaway certificate authority and two workload certificates (ECDSA P-256), with SPIFFE IDs as SAN URIs
/// (<c>spiffe://mesh.local/svc/&lt;name&gt;</c>), written as PEM files to a folder for nginx and the backend process.
/// </summary>
internal sealed class TestPki : IDisposable
{
    public const string ServerName = "backend";
    public const string ClientName = "bench-client";

    private TestPki(string directory, X509Certificate2 ca, X509Certificate2 client)
    {
        Directory = directory;
        Ca = ca;
        Client = client;
    }

    public string Directory { get; }

    public X509Certificate2 Ca { get; }

    /// <summary>The caller's workload certificate with its private key.</summary>
    public X509Certificate2 Client { get; }

    public string CaPem => Path.Combine(Directory, "ca.crt");

    public string ServerCertPem => Path.Combine(Directory, ServerName + ".crt");

    public string ServerKeyPem => Path.Combine(Directory, ServerName + ".key");

    public string ClientCertPem => Path.Combine(Directory, ClientName + ".crt");

    public string ClientKeyPem => Path.Combine(Directory, ClientName + ".key");

    public static TestPki Create(string directory)
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=MeshLib load benchmark CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));
        File.WriteAllText(Path.Combine(directory, "ca.crt"), ca.ExportCertificatePem());

        WriteLeaf(directory, ca, ServerName, now);
        var client = WriteLeaf(directory, ca, ClientName, now);
        return new TestPki(directory, X509CertificateLoader.LoadCertificate(ca.RawData), client);
    }

    /// <summary>Loads a PEM pair written by <see cref="Create"/> as a certificate usable by SslStream.</summary>
    public static X509Certificate2 LoadPem(string certPath, string keyPath)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>True when <paramref name="certificate"/> chains to <paramref name="ca"/> alone (the system store plays no part).</summary>
    public static bool ChainsTo(X509Certificate? certificate, X509Certificate2 ca)
    {
        if (certificate is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    /// <summary>Client TLS options: present the workload certificate, trust only the test CA.</summary>
    public SslClientAuthenticationOptions ClientOptions()
    {
        var ca = Ca;
        return new SslClientAuthenticationOptions
        {
            ClientCertificates = [Client],
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0 && ChainsTo(certificate, ca),
        };
    }

    private static X509Certificate2 WriteLeaf(string directory, X509Certificate2 ca, string name, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri($"spiffe://mesh.local/svc/{name}"));
        san.AddDnsName(name);
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var certificate = request.Create(ca, now.AddDays(-1), now.AddDays(6), serial);
        File.WriteAllText(Path.Combine(directory, name + ".crt"), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, name + ".key"), key.ExportPkcs8PrivateKeyPem());
        using var withKey = certificate.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        Ca.Dispose();
        Client.Dispose();
    }
}
