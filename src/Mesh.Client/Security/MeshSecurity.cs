using System.Diagnostics.Metrics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Client.Security;

/// <summary>
/// The mesh's mTLS: which identity this workload has (if any), how peers are verified, the outbound transport, and
/// the <c>Mesh.Security</c> meter. Peers are verified by a chain built against the trust bundle only
/// (<see cref="X509ChainTrustMode.CustomRootTrust"/>: the machine's roots mean nothing in the mesh) and by the one
/// SPIFFE ID in their certificate; host names are not checked, since mesh endpoints are addresses and the name that
/// matters is the service's.
/// </summary>
internal sealed partial class MeshSecurity : IDisposable
{
    public const string MeterName = "Mesh.Security";

    private readonly MeshRuntime _runtime;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Meter _meter;
    private readonly Counter<long> _peerRejected;
    private readonly Counter<long> _denied;
    private readonly Counter<long> _handshakes;

    public MeshSecurity(IServiceProvider services, IOptions<MeshOptions> options, MeshRuntime runtime, TimeProvider time, IMeterFactory meters,
        ILogger<MeshSecurity> logger)
    {
        _runtime = runtime;
        _time = time;
        _logger = logger;
        var mesh = options.Value;
        Mode = mesh.Security.Mode;
        TrustDomain = mesh.Security.TrustDomain.ToLowerInvariant();
        DryRun = mesh.Security.AuthorizationDryRun;
        if (Mode != MeshSecurityMode.Disabled)
        {
            // A CA registered in code (a test CA) wins; otherwise the registry's CA, when there is a registry to ask.
            Identity = services.GetService<IWorkloadIdentity>();
            if (Identity is null && mesh.Registry.IsConfigured && mesh.Service.Name is not null)
            {
                Identity = services.GetRequiredService<RegistryWorkloadIdentity>();
            }
        }

        if (Mode == MeshSecurityMode.Strict && Identity is null)
        {
            // Strict without a certificate would mean serving and calling in plaintext: refuse to start instead.
            throw new InvalidOperationException(
                "Mesh:Security:Mode: Strict needs a workload identity; set Mesh:Service:Name, Mesh:Registry:Url (or Urls) and Mesh:Registry:Token (or register a CA in code), or use Permissive");
        }

        // Without an identity a client cannot do mesh TLS, but the registry may list https endpoints (apps that serve
        // mesh TLS register so); outside Strict those also serve plaintext, which this client then uses.
        NeedsPlaintextFallback = Identity is null && Mode != MeshSecurityMode.Strict && mesh.Registry.IsConfigured;

        _meter = meters.Create(MeterName);
        _peerRejected = _meter.CreateCounter<long>("mesh.tls.peer_rejected", "{handshake}", "TLS peers refused: no, untrusted, expired or wrong-identity certificates.");
        _denied = _meter.CreateCounter<long>("mesh.authz.denied", "{request}", "Inbound requests denied by authorization (or that would be, in dry run).");
        _handshakes = _meter.CreateCounter<long>("mesh.tls.handshakes", "{handshake}", "Mesh TLS handshakes completed, by side (how often connections are made).");
        _meter.CreateObservableGauge("mesh.certificate.expiry", ObserveExpiry, "s", "Seconds until this workload's certificate expires.");

        // Hosts without ASP.NET Core have no hosted service to start the identity: the first use starts it. (With
        // AddMesh() a hosted service has already started it and waited for the first certificate.)
        Starting = Identity?.StartAsync(CancellationToken.None) ?? Task.CompletedTask;
    }

    /// <summary>Completes when the first credentials are in hand, or start-up gave up waiting for them.</summary>
    public Task Starting { get; }

    public MeshSecurityMode Mode { get; }

    public string TrustDomain { get; }

    public bool DryRun { get; }

    /// <summary>The workload's identity; null when the mode is Disabled or there is no CA to get one from.</summary>
    public IWorkloadIdentity? Identity { get; }

    /// <summary>Whether this workload speaks mesh TLS at all.</summary>
    public bool Enabled => Identity is not null;

    /// <summary>Whether the transport must call https mesh endpoints in plaintext, having no certificate to call them with.</summary>
    public bool NeedsPlaintextFallback { get; }

    public TimeProvider Time => _time;

    /// <summary>
    /// The outbound transport: presents the current workload certificate to mesh services, and accepts a mesh
    /// service's server only with a certificate from the trust bundle naming that service. Other hosts get ordinary TLS.
    /// In Permissive mode, while this workload has no certificate yet (the registry is unreachable at start), mesh
    /// calls to https endpoints go as plaintext to the same port, which a Permissive server also serves.
    /// </summary>
    public HttpMessageHandler CreateTransport()
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) };
        if (Identity is null)
        {
            return NeedsPlaintextFallback ? new PermissiveFallbackHandler(this) { InnerHandler = handler } : handler;
        }

        handler.SslOptions = new SslClientAuthenticationOptions
        {
            LocalCertificateSelectionCallback = SelectClientCertificate,
            RemoteCertificateValidationCallback = ValidateServer,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        return Mode == MeshSecurityMode.Permissive ? new PermissiveFallbackHandler(this) { InnerHandler = handler } : handler;
    }

    /// <summary>
    /// The mesh service a peer certificate proves, or null with the reason. <paramref name="presented"/> is the chain
    /// the peer sent (its intermediates are used; its trust decisions are not).
    /// </summary>
    public string? Verify(X509Certificate? certificate, X509Chain? presented, WorkloadCredentials credentials, out string reason) =>
        Verify(certificate, presented, credentials, out reason, out _);

    /// <summary>
    /// As <see cref="Verify(X509Certificate?, X509Chain?, WorkloadCredentials, out string)"/>, with the version the
    /// certificate proves (see <see cref="WorkloadVersion"/>): null when it carries none.
    /// </summary>
    public string? Verify(X509Certificate? certificate, X509Chain? presented, WorkloadCredentials credentials, out string reason, out string? version)
    {
        version = null;
        if (certificate is null)
        {
            reason = "no-certificate";
            return null;
        }

        var peer = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = MeshChain.Create(credentials.Roots, _time.GetUtcNow());
        var policy = chain.ChainPolicy;
        policy.ExtraStore.AddRange(credentials.Intermediates);
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, peer))
                {
                    policy.ExtraStore.Add(element.Certificate);
                }
            }
        }

        if (!chain.Build(peer))
        {
            reason = "untrusted";
            foreach (var status in chain.ChainStatus)
            {
                if (status.Status.HasFlag(X509ChainStatusFlags.NotTimeValid))
                {
                    reason = "expired";
                    break;
                }
            }

            return null;
        }

        var service = SpiffeId.ServiceOf(peer, credentials.TrustDomain);
        reason = service is null ? "no-spiffe-id" : string.Empty;
        version = service is null ? null : WorkloadVersion.Of(peer);
        return service;
    }

    public void RecordPeerRejected(string side, string reason, string? expected, string? presented)
    {
        _peerRejected.Add(1, new KeyValuePair<string, object?>("side", side), new KeyValuePair<string, object?>("reason", reason));
        LogPeerRejected(_logger, side, reason, expected ?? "-", presented ?? "-");
    }

    public void RecordHandshake(string side) => _handshakes.Add(1, new KeyValuePair<string, object?>("side", side));

    public void RecordDenied(string caller, bool dryRun)
    {
        _denied.Add(1, new KeyValuePair<string, object?>("source_service", caller), new KeyValuePair<string, object?>("dry_run", dryRun));
    }

    public void Dispose() => _meter.Dispose();

    private X509Certificate2? SelectClientCertificate(object sender, string targetHost, X509CertificateCollection localCertificates,
        X509Certificate? remoteCertificate, string[] acceptableIssuers)
    {
        // Only mesh services see this workload's certificate.
        return ServiceOfTarget(targetHost) is not null && Identity?.Current is { } credentials ? credentials.Certificate : null;
    }

    /// <summary>
    /// The mesh service a TLS target host (the Host the mesh handler set) names: the service itself, or for a mirror
    /// copy (<c>{service}-shadow</c>, see <see cref="Http.MirrorSender"/>) the service it copies, unless that name is a
    /// service of its own; null for any other host.
    /// </summary>
    private string? ServiceOfTarget(string? target)
    {
        if (string.IsNullOrEmpty(target))
        {
            return null;
        }

        if (_runtime.TryGetService(target, out var service))
        {
            return service.Name;
        }

        return target.EndsWith(Http.MirrorSender.ShadowSuffix, StringComparison.OrdinalIgnoreCase) &&
            _runtime.TryGetService(target[..^Http.MirrorSender.ShadowSuffix.Length], out service)
            ? service.Name
            : null;
    }

    private bool ValidateServer(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        // The TLS target host is the Host header the mesh handler set: the destination service's name.
        var target = ServiceOfTarget((sender as SslStream)?.TargetHostName);
        if (target is null)
        {
            return errors == SslPolicyErrors.None;
        }

        if (Identity?.Current is not { } credentials)
        {
            RecordPeerRejected("client", "no-credentials", target, null);
            return false;
        }

        var service = Verify(certificate, chain, credentials, out var reason);
        if (service is null)
        {
            RecordPeerRejected("client", reason, target, null);
            return false;
        }

        if (!string.Equals(service, target, StringComparison.OrdinalIgnoreCase))
        {
            RecordPeerRejected("client", "wrong-service", target, service);
            return false;
        }

        RecordHandshake("client");
        return true;
    }

    private IEnumerable<Measurement<double>> ObserveExpiry()
    {
        if (Identity?.Current is { } credentials)
        {
            yield return new Measurement<double>((credentials.NotAfter - _time.GetUtcNow()).TotalSeconds,
                new KeyValuePair<string, object?>("service", credentials.Service));
        }
    }

    /// <summary>See <see cref="CreateTransport"/>: plaintext to mesh services only while there is no certificate.</summary>
    private sealed class PermissiveFallbackHandler(MeshSecurity security) : DelegatingHandler
    {
        private int _warned;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (security.Identity?.Current is null && request.RequestUri is { Scheme: "https" } uri && request.Headers.Host is { } host &&
                security.ServiceOfTarget(HostName(host)) is not null)
            {
                if (Interlocked.Exchange(ref _warned, 1) == 0)
                {
                    LogPlaintextFallback(security._logger);
                }

                request.RequestUri = new UriBuilder(uri) { Scheme = Uri.UriSchemeHttp }.Uri;
            }

            return base.SendAsync(request, cancellationToken);
        }

        private static string HostName(string host)
        {
            var colon = host.LastIndexOf(':');
            return colon > 0 && !host.EndsWith(']') ? host[..colon] : host;
        }
    }

    [LoggerMessage(61, LogLevel.Warning, "Mesh TLS: no workload certificate yet; Permissive mode calls mesh services in plaintext until one arrives")]
    private static partial void LogPlaintextFallback(ILogger logger);

    [LoggerMessage(60, LogLevel.Warning, "Mesh TLS ({Side} side) refused a peer: {Reason} (expected {Expected}, presented {Presented})")]
    private static partial void LogPeerRejected(ILogger logger, string side, string reason, string expected, string presented);
}
