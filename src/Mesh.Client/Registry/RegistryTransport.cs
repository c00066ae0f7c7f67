using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Internal;
using Mesh.Client.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Client.Registry;

/// <summary>
/// The one connection pool to the registry, shared by discovery, self-registration and the workload identity. Over
/// https the registry is accepted only with a certificate for <c>spiffe://&lt;trust domain&gt;/registry</c> that chains
/// (<see cref="X509ChainTrustMode.CustomRootTrust"/>, never the machine's roots) to a pinned root until the registry's
/// trust bundle is known, and from then on to the roots of its latest trust bundle, so a root rotation keeps the
/// connection and a removed root stops counting. Every header, the token included,
/// leaves only after that check, inside the verified TLS session. The registry's replicas are one registry to it: the
/// same pins and credentials hold for each, and <see cref="Failover"/> says which one calls go to.
/// </summary>
/// <remarks>
/// <para>
/// A fingerprint pin needs the root itself, which TLS does not carry (servers send their chain without its root). Before
/// the first request the roots are fetched from <c>/v1/ca/bundle.pem</c> on a connection that sends nothing else; the
/// one matching the pin is kept only if the certificate that connection's server presented chains to it, which proves
/// the answer came from the pinned registry.
/// </para>
/// <para>
/// Once the workload holds a mesh certificate, new connections present it and requests go without the join token: the
/// registry authenticates the certificate, so renewals keep working after the token is rotated away. A connection pool
/// belongs to one certificate; a renewal starts a new pool, and the old one serves its open long polls until they end.
/// The token is sent again only when there is no valid certificate, or once after the registry refused the certificate
/// (a root it no longer trusts).
/// </para>
/// </remarks>
internal sealed partial class RegistryTransport : IDisposable
{
    private const int MaxBundleBytes = 256 * 1024;

    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string? _token;
    private readonly string _registryId;
    private readonly byte[]? _fingerprint;
    private readonly string? _fingerprintText;
    private readonly SemaphoreSlim _fetching = new(1, 1);
    private readonly Lock _gate = new();
    private X509Certificate2Collection _pinned = [];
    private X509Certificate2Collection _learned = [];
    private volatile X509Certificate2Collection _anchors = [];
    private volatile Pool _pool;
    private Pool? _retired;
    private bool _disposed;

    public RegistryTransport(IOptions<MeshOptions> options, TimeProvider time, RandomSource random, ILogger<RegistryTransport> logger)
    {
        _time = time;
        _logger = logger;
        var registry = options.Value.Registry;
        var replicas = registry.Replicas;
        Failover = new RegistryFailover(replicas, random, logger);
        _token = string.IsNullOrEmpty(registry.Token) ? null : registry.Token;
        _registryId = SpiffeId.ForRegistry(options.Value.Security.TrustDomain);
        IsHttps = replicas.Length > 0 && replicas[0].Scheme == Uri.UriSchemeHttps;
        if (CaFingerprint.TryParse(registry.CaFingerprint, out var hash))
        {
            _fingerprint = hash;
            _fingerprintText = registry.CaFingerprint!.Trim().ToLowerInvariant();
        }

        if (registry.CaFile is { } file && RegistryTransportValidator.ReadRoots(file, out _) is { } roots)
        {
            _pinned = roots;
            Recompute();
        }

        _pool = NewPool(null);
    }

    /// <summary>The registry's replicas, and which one calls go to now.</summary>
    public RegistryFailover Failover { get; }

    public bool IsHttps { get; }

    /// <summary>The roots the registry's certificate may chain to now: the pinned ones and the trust bundle's.</summary>
    public X509Certificate2Collection Anchors => _anchors;

    /// <summary>A client for the registry's API over this transport.</summary>
    public RegistryClient CreateClient() => new(this, _time);

    /// <summary>A handler for an <see cref="HttpClient"/> of one's own (the registry's command line) over this transport.</summary>
    public HttpMessageHandler CreateHandler() => new Handler(this);

    /// <summary>
    /// The workload's current credentials: new connections present the certificate (over https), and the roots of its
    /// trust bundle join the pinned ones.
    /// </summary>
    public void UseCredentials(WorkloadCredentials credentials)
    {
        TrustRoots(credentials.Roots);
        if (!IsHttps)
        {
            return;
        }

        Pool? retire;
        lock (_gate)
        {
            if (_disposed || ReferenceEquals(_pool.Credentials?.Certificate, credentials.Certificate))
            {
                return;
            }

            retire = _retired;
            _retired = _pool;
            _pool = NewPool(credentials);
        }

        // The pool before last has had a whole certificate lifetime's half to finish its requests.
        retire?.Dispose();
    }

    /// <summary>Roots the registry's trust bundle names (learned over a verified connection), replacing those learned before.</summary>
    public void TrustRoots(X509Certificate2Collection roots)
    {
        lock (_gate)
        {
            _learned = roots;
            Recompute();
        }
    }

    internal async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (IsHttps && _anchors.Count == 0)
        {
            await FetchPinnedRootsAsync(Failover.ReplicaOf(request.RequestUri)!, cancellationToken);
        }

        var pool = _pool;
        var certified = pool.Credentials is { } credentials && credentials.NotAfter > _time.GetUtcNow();
        if (!certified && _token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        }

        var response = await pool.Invoker.SendAsync(request, cancellationToken);
        if (!certified || _token is null || response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        // The registry no longer takes the certificate (its root was removed, say): once more with the token, which
        // is what the token is still for.
        LogCertificateRefused(_logger);
        response.Dispose();
        using var retry = new HttpRequestMessage(request.Method, request.RequestUri) { Content = request.Content, Version = request.Version };
        foreach (var (name, values) in request.Headers)
        {
            retry.Headers.TryAddWithoutValidation(name, values);
        }

        retry.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        return await pool.Invoker.SendAsync(retry, cancellationToken);
    }

    /// <summary>Whether <paramref name="certificate"/> is the registry's: it chains to <paramref name="anchors"/> now, and names the registry.</summary>
    internal bool Verify(X509Certificate? certificate, X509Certificate2Collection? presented, X509Certificate2Collection anchors, out string reason)
    {
        if (certificate is null)
        {
            reason = "no certificate";
            return false;
        }

        if (anchors.Count == 0)
        {
            reason = "no pinned root yet";
            return false;
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = MeshChain.Create(anchors, _time.GetUtcNow(), MeshChain.ServerAuth);
        var policy = chain.ChainPolicy;
        if (presented is not null)
        {
            foreach (var extra in presented)
            {
                if (!ReferenceEquals(extra, leaf))
                {
                    policy.ExtraStore.Add(extra);
                }
            }
        }

        if (!chain.Build(leaf))
        {
            reason = "its certificate does not chain to the pinned CA (" +
                string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct()) + ")";
            return false;
        }

        IReadOnlyList<string> uris;
        try
        {
            uris = SpiffeId.UrisOf(leaf);
        }
        catch (CryptographicException)
        {
            uris = [];
        }

        if (uris.Count != 1 || !string.Equals(uris[0], _registryId, StringComparison.OrdinalIgnoreCase))
        {
            reason = $"its certificate names {(uris.Count == 0 ? "no SPIFFE ID" : string.Join(", ", uris))}, not {_registryId}";
            return false;
        }

        reason = string.Empty;
        return true;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _retired?.Dispose();
            _pool.Dispose();
        }

        _fetching.Dispose();
    }

    private Pool NewPool(WorkloadCredentials? credentials)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        if (IsHttps)
        {
            var certificate = credentials?.Certificate;
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = ValidateServer,
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate!,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            };
        }

        return new Pool(new HttpMessageInvoker(handler, disposeHandler: true), credentials);
    }

    private bool ValidateServer(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        // The host name is not what identifies the registry (it may be reached by any name or address); the pinned CA
        // and the SPIFFE ID are.
        if (Verify(certificate, chain?.ChainPolicy.ExtraStore, _anchors, out var reason))
        {
            return true;
        }

        LogRefused(_logger, (sender as SslStream)?.TargetHostName ?? "the registry", reason);
        return false;
    }

    private async Task FetchPinnedRootsAsync(Uri replica, CancellationToken cancellationToken)
    {
        await _fetching.WaitAsync(cancellationToken);
        try
        {
            if (_anchors.Count > 0)
            {
                return;
            }

            if (_fingerprint is null)
            {
                throw new HttpRequestException($"No root is pinned for the registry at {replica}; set Mesh:Registry:CaFingerprint or Mesh:Registry:CaFile.");
            }

            X509Certificate2? leaf = null;
            var presented = new X509Certificate2Collection();
            using var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) };
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                // Checked below, once the roots are known; nothing but this one GET goes on this connection. Copies:
                // the handshake disposes its own.
                leaf = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                foreach (var extra in chain?.ChainPolicy.ExtraStore ?? [])
                {
                    presented.Add(X509CertificateLoader.LoadCertificate(extra.RawData));
                }

                return leaf is not null;
            };
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(15), MaxResponseContentBufferSize = MaxBundleBytes };
            var pem = await http.GetStringAsync(new Uri(replica, "v1/ca/bundle.pem"), cancellationToken);
            var roots = new X509Certificate2Collection();
            try
            {
                roots.ImportFromPem(pem);
            }
            catch (CryptographicException)
            {
                roots.Clear();
            }

            var pinned = roots.FirstOrDefault(r => CaFingerprint.Matches(r, _fingerprint));
            if (pinned is null)
            {
                throw Refuse(replica, $"it trusts no root with the pinned fingerprint {_fingerprintText}");
            }

            if (!Verify(leaf, presented, [pinned], out var reason))
            {
                throw Refuse(replica, reason);
            }

            // The answer came from the pinned registry, so the other roots it trusts (a rotation's new root) are as good.
            lock (_gate)
            {
                _pinned = roots;
                Recompute();
            }

            LogPinned(_logger, replica, _fingerprintText!, roots.Count);
        }
        finally
        {
            _fetching.Release();
        }
    }

    private HttpRequestException Refuse(Uri replica, string reason)
    {
        LogRefused(_logger, replica.ToString(), reason);
        return new HttpRequestException($"The registry at {replica} is not the pinned one: {reason}. Nothing was sent to it.");
    }

    /// <summary>
    /// Under the lock: the anchors, published with one reference swap. The pins bootstrap; once the registry's trust
    /// bundle is known (learned over a verified connection) it alone names the roots, so a root the registry removed (a
    /// rotation's old root, perhaps rotated away because its key leaked) stops vouching for the registry as well.
    /// </summary>
    private void Recompute() => _anchors = new X509Certificate2Collection(_learned.Count > 0 ? _learned : _pinned);

    /// <summary>Hands every request to the transport, which owns the connections.</summary>
    private sealed class Handler(RegistryTransport transport) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            transport.SendAsync(request, cancellationToken);
    }

    private sealed class Pool(HttpMessageInvoker invoker, WorkloadCredentials? credentials) : IDisposable
    {
        public HttpMessageInvoker Invoker { get; } = invoker;

        public WorkloadCredentials? Credentials { get; } = credentials;

        public void Dispose() => Invoker.Dispose();
    }

    [LoggerMessage(130, LogLevel.Warning, "Registry TLS: refused the server at {Url}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string url, string reason);

    [LoggerMessage(131, LogLevel.Information, "Registry TLS: {Url} proved it holds the root {Fingerprint}; {Count} root(s) trusted for it")]
    private static partial void LogPinned(ILogger logger, Uri url, string fingerprint, int count);

    [LoggerMessage(132, LogLevel.Information, "Registry TLS: the registry refused this workload's certificate; retrying with the join token")]
    private static partial void LogCertificateRefused(ILogger logger);
}
