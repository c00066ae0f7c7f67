using System.Security.Cryptography.X509Certificates;

namespace Mesh.Registry.Ca;

/// <summary>One CA root: its certificate with the private key (kept in memory and in a 0600 file, never sent).</summary>
internal sealed class CaRoot(string id, X509Certificate2 certificate) : IDisposable
{
    public string Id { get; } = id;

    public X509Certificate2 Certificate { get; } = certificate;

    public string Pem { get; } = certificate.ExportCertificatePem();

    public void Dispose() => Certificate.Dispose();
}
