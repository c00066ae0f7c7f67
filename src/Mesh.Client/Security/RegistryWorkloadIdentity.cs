using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Internal;
using Mesh.Client.Registry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Client.Security;

/// <summary>
/// This workload's identity from the registry's CA. Each certificate gets a fresh ECDSA P-256 key made in memory; only
/// the CSR (public key and a signature) is sent. A certificate is renewed at half its lifetime, give or take 10% so a
/// fleet started together does not renew together; until the new one is in hand the old one keeps serving, failures
/// are retried with backoff, and past 80% of the lifetime each failure is a warning. The trust bundle is watched with
/// a long poll, so a root added for rotation is trusted within one round trip.
/// </summary>
internal sealed partial class RegistryWorkloadIdentity : IWorkloadIdentity, IDisposable
{
    /// <summary>How long start-up waits for the first certificate before going on without one (the registry may be down).</summary>
    internal static readonly TimeSpan StartWait = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan BundleWait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly MeshOptions _options;
    private readonly RegistryTransport _transport;
    private readonly TimeProvider _time;
    private readonly RandomSource _random;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private RegistryClient? _client;
    private Task _renewLoop = Task.CompletedTask;
    private Task _bundleLoop = Task.CompletedTask;
    private volatile WorkloadCredentials? _current;
    private X509Certificate2Collection? _roots;
    private long _bundleIndex;
    private DateTimeOffset _issuedAt;
    private bool _started;
    private bool _disposed;

    public RegistryWorkloadIdentity(IOptions<MeshOptions> options, RegistryTransport transport, TimeProvider time, RandomSource random,
        ILogger<RegistryWorkloadIdentity> logger)
    {
        _options = options.Value;
        _transport = transport;
        _time = time;
        _random = random;
        _logger = logger;
    }

    public WorkloadCredentials? Current => _current;

    /// <summary>Renewals completed (for tests and diagnostics).</summary>
    public int Renewals { get; private set; }

    /// <summary>When the next renewal (or retry) is due; set once its timer is armed (for tests and diagnostics).</summary>
    public DateTimeOffset? NextAttemptAt { get; private set; }

    /// <summary>When the current certificate was asked for.</summary>
    public DateTimeOffset IssuedAt => _issuedAt;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_started)
            {
                _started = true;
                _client = _transport.CreateClient();
                _renewLoop = Task.Run(() => RenewLoopAsync(_stopping.Token), CancellationToken.None);
                _bundleLoop = Task.Run(() => BundleLoopAsync(_stopping.Token), CancellationToken.None);
            }
        }

        using var startWait = new CancellationTokenSource(StartWait, _time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, startWait.Token);
        try
        {
            await _first.Task.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            if (!Volatile.Read(ref _disposed))
            {
                LogNoCertificateYet(_logger, StartWait.TotalSeconds);
            }
        }
    }

    private async Task RenewLoopAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        var warnedFor = default(DateTimeOffset);
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan next;
            try
            {
                var (credentials, issuedAt) = await IssueAsync(cancellationToken);
                var previous = _current;
                Publish(credentials);
                _issuedAt = issuedAt;
                if (previous is not null)
                {
                    Renewals++;
                }

                LogIssued(_logger, credentials.Service, credentials.Certificate.SerialNumber, credentials.NotAfter);
                _first.TrySetResult();
                failures = 0;

                // Half the remaining lifetime, ±10%.
                var lifetime = credentials.NotAfter - issuedAt;
                next = lifetime * (0.5 + ((_random.NextDouble() * 0.2) - 0.1));
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is HttpRequestException or TaskCanceledException or CryptographicException or InvalidOperationException or System.Text.Json.JsonException)
            {
                failures++;
                next = TimeSpan.FromSeconds(Math.Min(MaxBackoff.TotalSeconds, 0.2 * Math.Pow(2, Math.Min(failures, 10))));
                var current = _current;
                var now = _time.GetUtcNow();
                if (current is not null && now >= _issuedAt + ((current.NotAfter - _issuedAt) * 0.8))
                {
                    if (warnedFor != current.NotAfter || failures % 10 == 1)
                    {
                        warnedFor = current.NotAfter;
                        LogRenewalLate(_logger, (current.NotAfter - now).TotalSeconds, ExceptionReason.Of(ex));
                    }
                }
                else
                {
                    LogRenewalFailed(_logger, ExceptionReason.Of(ex));
                }

                if (current is not null && next > current.NotAfter - now && current.NotAfter > now)
                {
                    next = (current.NotAfter - now) / 2;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                next = next < TimeSpan.FromMilliseconds(50) ? TimeSpan.FromMilliseconds(50) : next;
                var delay = Task.Delay(next, _time, cancellationToken);
                NextAttemptAt = _time.GetUtcNow() + next;
                await delay;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<(WorkloadCredentials Credentials, DateTimeOffset IssuedAt)> IssueAsync(CancellationToken cancellationToken)
    {
        var service = _options.Service.Name!.ToLowerInvariant();
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var handedOver = false;
        try
        {
            // The version rides in the subject; the registry's CA keeps it only where this workload's token allows it. A
            // version that is not a valid name cannot be a label either, so the certificate goes without one.
            var version = _options.Service.Version is { } v && Configuration.PolicyValidator.IsValidName(v) ? v : null;
            var request = new CertificateRequest(WorkloadVersion.Subject(service, version), key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddUri(new Uri(SpiffeId.For(_options.Security.TrustDomain, service)));
            request.CertificateExtensions.Add(san.Build());
            var issuedAt = _time.GetUtcNow();
            var answer = await _client!.SignAsync(request.CreateSigningRequestPem(), cancellationToken)
                ?? throw new InvalidOperationException("The registry answered no certificate.");
            using var publicOnly = X509Certificate2.CreateFromPem(answer.Certificate);

            // An answer this workload cannot use is a failed attempt, retried like any other, not the end of renewals.
            if (!publicOnly.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                throw new InvalidOperationException("The registry answered a certificate for another key than the one this workload holds.");
            }

            if (SpiffeId.ServiceOf(publicOnly, _options.Security.TrustDomain) != service)
            {
                throw new InvalidOperationException($"The registry answered a certificate that does not name this workload ({SpiffeId.For(_options.Security.TrustDomain, service)}).");
            }

            var certificate = publicOnly.CopyWithPrivateKey(key);
            var intermediates = new X509Certificate2Collection();
            foreach (var pem in answer.Chain)
            {
                intermediates.Add(X509Certificate2.CreateFromPem(pem));
            }

            X509Certificate2Collection roots;
            lock (_gate)
            {
                roots = _roots ?? ParseRoots(answer.TrustBundle);
                _roots = roots;
            }

            handedOver = true; // the certificate uses the key from now on
            return (new WorkloadCredentials(certificate, intermediates, roots, _options.Security.TrustDomain.ToLowerInvariant(), service), issuedAt);
        }
        finally
        {
            if (!handedOver)
            {
                key.Dispose();
            }
        }
    }

    private async Task BundleLoopAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var bundle = await _client!.WatchTrustBundleAsync(_bundleIndex, BundleWait, cancellationToken);
                failures = 0;
                if (bundle is not null && bundle.Index != _bundleIndex)
                {
                    _bundleIndex = bundle.Index;
                    var roots = ParseRoots(bundle.Roots);
                    WorkloadCredentials? current;
                    lock (_gate)
                    {
                        _roots = roots;
                        current = _current;
                    }

                    _transport.TrustRoots(roots);
                    if (current is not null)
                    {
                        Publish(current.WithRoots(roots));
                    }

                    LogBundle(_logger, roots.Count, bundle.Index);
                }

                continue;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is HttpRequestException or TaskCanceledException or CryptographicException or System.Text.Json.JsonException)
            {
                failures++;
                LogBundleFailed(_logger, ex.Message);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(MaxBackoff.TotalSeconds, 0.2 * Math.Pow(2, Math.Min(failures, 10)))), _time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Publishes credentials, always with the latest known roots (a renewal and a bundle change may race).</summary>
    private void Publish(WorkloadCredentials credentials)
    {
        WorkloadCredentials published;
        lock (_gate)
        {
            published = _roots is { } roots && !ReferenceEquals(roots, credentials.Roots) ? credentials.WithRoots(roots) : credentials;
            _current = published;
        }

        // The registry connection presents the new certificate from its next connection on, and trusts the bundle's roots.
        _transport.UseCredentials(published);
    }

    private static X509Certificate2Collection ParseRoots(List<string> pems)
    {
        var roots = new X509Certificate2Collection();
        foreach (var pem in pems)
        {
            roots.Add(X509Certificate2.CreateFromPem(pem));
        }

        return roots;
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        _first.TrySetCanceled();
        _stopping.Cancel();
        try
        {
            Task.WaitAll([_renewLoop, _bundleLoop], TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // Loops end by cancellation; anything else was logged where it happened.
        }

        _client?.Dispose();
        _stopping.Dispose();
    }

    [LoggerMessage(70, LogLevel.Information, "Mesh identity: certificate for {Service} (serial {Serial}) valid until {NotAfter:O}")]
    private static partial void LogIssued(ILogger logger, string service, string serial, DateTimeOffset notAfter);

    [LoggerMessage(71, LogLevel.Information, "Mesh identity: certificate renewal failed, retrying: {Reason}")]
    private static partial void LogRenewalFailed(ILogger logger, string reason);

    [LoggerMessage(72, LogLevel.Warning, "Mesh identity: past 80% of the certificate's lifetime without a renewal; {Seconds:F0} s left. Last error: {Reason}")]
    private static partial void LogRenewalLate(ILogger logger, double seconds, string reason);

    [LoggerMessage(73, LogLevel.Warning, "Mesh identity: no certificate from the registry within {Seconds} s of start; mesh TLS waits for it")]
    private static partial void LogNoCertificateYet(ILogger logger, double seconds);

    [LoggerMessage(74, LogLevel.Information, "Mesh identity: trust bundle of {Count} root(s), index {Index}")]
    private static partial void LogBundle(ILogger logger, int count, long index);

    [LoggerMessage(75, LogLevel.Debug, "Mesh identity: trust bundle watch failed, retrying: {Reason}")]
    private static partial void LogBundleFailed(ILogger logger, string reason);
}
