using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mesh.Testing;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// The benchmark's certificate authority: the mesh's test CA (<see cref="TestCertificateAuthority"/>, ECDSA P-256,
/// trust domain <c>mesh.local</c>), so the direct clients, nginx, the backend and the meshed client all use the same
/// root and the same workload certificates (SAN URI <c>spiffe://mesh.local/svc/&lt;name&gt;</c>). The root and two
/// workload certificates are written as PEM files to a folder for nginx and the backend process.
/// </summary>
internal sealed class TestPki : IDisposable
{
    public const string ServerName = "backend";
    public const string ClientName = "bench-client";

    private TestPki(string directory, TestCertificateAuthority authority, X509Certificate2 client)
    {
        Directory = directory;
        Authority = authority;
        Client = client;
    }

    public string Directory { get; }

    /// <summary>The CA itself: the meshed client takes its identity from it (<c>AddTestCertificateAuthority</c>).</summary>
    public TestCertificateAuthority Authority { get; }

    public X509Certificate2 Ca => Authority.Root;

    /// <summary>The caller's workload certificate with its private key (the direct clients' and the meshed client's).</summary>
    public X509Certificate2 Client { get; }

    public string CaPem => Path.Combine(Directory, "ca.crt");

    public string ServerCertPem => Path.Combine(Directory, ServerName + ".crt");

    public string ServerKeyPem => Path.Combine(Directory, ServerName + ".key");

    public string ClientCertPem => Path.Combine(Directory, ClientName + ".crt");

    public string ClientKeyPem => Path.Combine(Directory, ClientName + ".key");

    public static TestPki Create(string directory)
    {
        var authority = new TestCertificateAuthority("mesh.local", "load benchmark");
        try
        {
            File.WriteAllText(Path.Combine(directory, "ca.crt"), authority.Root.ExportCertificatePem());
            using var server = WriteLeaf(directory, authority, ServerName);
            var client = WriteLeaf(directory, authority, ClientName);
            return new TestPki(directory, authority, client);
        }
        catch
        {
            authority.Dispose();
            throw;
        }
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

    /// <summary>
    /// Client TLS options with the mesh's rule for a server: present the workload certificate, accept only a chain to
    /// this CA naming <c>spiffe://mesh.local/svc/backend</c>, no host name check (the options of
    /// <see cref="TestCertificateAuthority.CreateDirectHandler"/>, which verifies as the mesh does).
    /// </summary>
    public SslClientAuthenticationOptions ClientOptions()
    {
        using var handler = Authority.CreateDirectHandler(Client, ServerName);
        return handler.SslOptions;
    }

    private static X509Certificate2 WriteLeaf(string directory, TestCertificateAuthority authority, string name)
    {
        using var certificate = authority.IssueWorkload(name, TimeSpan.FromDays(6));
        using var key = certificate.GetECDsaPrivateKey()!;
        File.WriteAllText(Path.Combine(directory, name + ".crt"), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, name + ".key"), key.ExportPkcs8PrivateKeyPem());
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        Authority.Dispose();
        Client.Dispose();
    }
}
