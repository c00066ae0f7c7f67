using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Ca;

/// <summary>
/// The registry's HTTPS certificate, issued by its own CA for <c>spiffe://&lt;trust domain&gt;/registry</c> plus
/// <c>localhost</c>, the loopback addresses, the machine's name and <c>MeshRegistry:ServerNames</c>. It is checked on
/// every handshake: at half its lifetime, or as soon as another root becomes active, a new one is issued and new
/// connections get it (no restart; open connections keep theirs). TLS stacks do not send the root of a chain, so
/// clients that pin the root's fingerprint fetch the roots from <see cref="CaBundleEndpoint"/> and check them.
/// </summary>
internal sealed partial class RegistryServerCertificate : IDisposable
{
    private readonly CertificateAuthority _ca;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string[] _dnsNames;
    private readonly IPAddress[] _addresses;
    private readonly Lock _gate = new();
    private Issued? _current;
    private Issued? _previous;

    public RegistryServerCertificate(CertificateAuthority ca, IOptions<RegistryOptions> options, TimeProvider time, ILogger<RegistryServerCertificate> logger)
    {
        _ca = ca;
        _time = time;
        _logger = logger;
        var dns = new List<string> { "localhost" };
        var addresses = new List<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback };
        if (Uri.CheckHostName(Environment.MachineName) == UriHostNameType.Dns)
        {
            dns.Add(Environment.MachineName.ToLowerInvariant());
        }

        foreach (var name in options.Value.ServerNames)
        {
            if (IPAddress.TryParse(name, out var address))
            {
                addresses.Add(address);
            }
            else
            {
                dns.Add(name.ToLowerInvariant());
            }
        }

        _dnsNames = [.. dns];
        _addresses = [.. addresses];
    }

    /// <summary>The certificate with its key.</summary>
    public X509Certificate2 Certificate => Current().Certificate;

    /// <summary>The certificate as handed to every TLS handshake.</summary>
    public SslStreamCertificateContext Context => Current().Context;

    /// <summary>Certificates issued so far (for tests and diagnostics).</summary>
    public int Issues { get; private set; }

    public void Dispose()
    {
        lock (_gate)
        {
            _previous?.Certificate.Dispose();
            _current?.Certificate.Dispose();
        }
    }

    private Issued Current()
    {
        var current = Volatile.Read(ref _current);
        if (current is not null && IsFresh(current))
        {
            return current;
        }

        lock (_gate)
        {
            current = _current;
            if (current is not null && IsFresh(current))
            {
                return current;
            }

            var (certificate, root, rootId) = _ca.IssueRegistryCertificate(_dnsNames, _addresses);
            using var issuer = root;
            var issuedAt = _time.GetUtcNow();
            var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
            var context = SslStreamCertificateContext.Create(certificate, [root], offline: true);
            var next = new Issued(certificate, context, rootId, issuedAt + ((notAfter - issuedAt) / 2));

            // Two generations are kept: a handshake that took the previous one a moment ago may still be using it.
            _previous?.Certificate.Dispose();
            _previous = current;
            Volatile.Write(ref _current, next);
            Issues++;
            LogIssued(_logger, certificate.SerialNumber, notAfter, rootId);
            return next;
        }
    }

    private bool IsFresh(Issued issued) => _time.GetUtcNow() < issued.RenewAt && issued.RootId == _ca.ActiveRootId;

    private sealed record Issued(X509Certificate2 Certificate, SslStreamCertificateContext Context, string RootId, DateTimeOffset RenewAt);

    [LoggerMessage(110, LogLevel.Information, "Registry TLS: serving certificate {Serial} valid until {NotAfter:O} from root {Root}")]
    private static partial void LogIssued(ILogger logger, string serial, DateTimeOffset notAfter, string root);
}
