using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Testing;

/// <summary>
/// The PEM files of an etcd cluster with client TLS, made by the test: a CA of its own, a server certificate it signed
/// for 127.0.0.1 (serverAuth), and a client certificate it signed (clientAuth), with their keys.
/// </summary>
public sealed class EtcdTls
{
    private EtcdTls(string directory)
    {
        CaFile = Path.Combine(directory, "ca.pem");
        ServerCertificateFile = Path.Combine(directory, "server.pem");
        ServerKeyFile = Path.Combine(directory, "server-key.pem");
        ClientCertificateFile = Path.Combine(directory, "client.pem");
        ClientKeyFile = Path.Combine(directory, "client-key.pem");
    }

    /// <summary>The CA's certificate: what the members trust for clients, and what clients trust for the members.</summary>
    public string CaFile { get; }

    public string ServerCertificateFile { get; }

    public string ServerKeyFile { get; }

    /// <summary>A certificate the CA signed for a client (CN <c>mesh-registry</c>).</summary>
    public string ClientCertificateFile { get; }

    public string ClientKeyFile { get; }

    /// <summary>Makes a new CA and its server and client certificates, valid from an hour ago for a day, as PEM files in <paramref name="directory"/>.</summary>
    public static EtcdTls Create(string directory)
    {
        Directory.CreateDirectory(directory);
        var tls = new EtcdTls(directory);
        var now = DateTimeOffset.UtcNow;
        var notBefore = now.AddHours(-1);
        var notAfter = now.AddDays(1);

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=meshlib etcd test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(notBefore, notAfter);
        File.WriteAllText(tls.CaFile, ca.ExportCertificatePem());

        var server = new SubjectAlternativeNameBuilder();
        server.AddIpAddress(IPAddress.Loopback);
        server.AddDnsName("localhost");
        Issue(ca, "CN=127.0.0.1", "1.3.6.1.5.5.7.3.1", server, notBefore, notAfter, tls.ServerCertificateFile, tls.ServerKeyFile);
        Issue(ca, "CN=mesh-registry", "1.3.6.1.5.5.7.3.2", null, notBefore, notAfter, tls.ClientCertificateFile, tls.ClientKeyFile);
        return tls;
    }

    /// <summary>Loads the client certificate with its key, for a client of the cluster.</summary>
    public X509Certificate2 LoadClientCertificate() => X509Certificate2.CreateFromPemFile(ClientCertificateFile, ClientKeyFile);

    /// <summary>Loads the CA's certificate.</summary>
    public X509Certificate2 LoadCa() => X509CertificateLoader.LoadCertificateFromFile(CaFile);

    private static void Issue(X509Certificate2 ca, string subject, string usage, SubjectAlternativeNameBuilder? names, DateTimeOffset notBefore,
        DateTimeOffset notAfter, string certificateFile, string keyFile)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        if (names is not null)
        {
            request.CertificateExtensions.Add(names.Build());
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // a positive serial: Go's parser refuses negative ones
        using var certificate = request.Create(ca, notBefore, notAfter, serial);
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
    }
}
