using Mesh.Client;
using Mesh.Client.Hosting;
using Mesh.Client.Internal;
using Mesh.Client.Registry;
using Mesh.AspNetCore.Telemetry;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Inbound;

/// <summary>
/// Registers this app with the registry once Kestrel listens, renews the lease at a third of its TTL, and on
/// graceful shutdown deregisters, keeps serving for the drain delay while watchers notice, and only then lets the
/// server stop. The drain runs in <see cref="StoppingAsync"/>, which the host awaits for every lifecycle service
/// before it stops any hosted service: the web server's hosted service is registered last by
/// <c>WebApplicationBuilder.Build()</c> and so stops first, and a drain in <see cref="StopAsync"/> would run against a
/// server that no longer accepts connections.
/// </summary>
internal sealed partial class MeshRegistration(
    IOptions<MeshOptions> options,
    MeshInstanceRegistry registry,
    IServer server,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    MeshServerSecurity security,
    MeshTrafficStats stats,
    MeshDrainState drainState,
    MeshMetricsListener metricsListener,
    ILogger<MeshRegistration> logger) : IHostedLifecycleService, IDisposable
{
    /// <summary>How long deregistration may take before the drain goes on without it (the lease then runs out).</summary>
    internal static readonly TimeSpan DeregisterTimeout = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private Task? _drain;
    private string? _service;
    private string? _instanceId;
    private volatile bool _registered;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var mesh = options.Value;
        if ((mesh.Registry.Url is null && mesh.Registry.Urls.Count == 0) || !mesh.Registry.Register || mesh.Service.Name is null)
        {
            return Task.CompletedTask;
        }

        _service = mesh.Service.Name;
        stats.Start();
        lifetime.ApplicationStarted.Register(() => _loop = Task.Run(() => RunAsync(mesh, _stopping.Token)));
        return Task.CompletedTask;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Deregisters and drains while the server still accepts connections.</summary>
    public Task StoppingAsync(CancellationToken cancellationToken) => DrainOnceAsync(cancellationToken);

    /// <summary>
    /// A host that calls <see cref="StopAsync"/> without <see cref="StoppingAsync"/> still gets the deregistration;
    /// after <see cref="StoppingAsync"/> this waits for nothing new.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken) => DrainOnceAsync(cancellationToken);

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private Task DrainOnceAsync(CancellationToken cancellationToken)
    {
        // Both stop phases call this, from the host's one stopping thread: the second gets the first's task.
        _drain ??= DrainAsync(cancellationToken);
        return _drain;
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!_registered)
        {
            return;
        }

        drainState.Draining = true;
        try
        {
            using var deregisterTimeout = new CancellationTokenSource(DeregisterTimeout, time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deregisterTimeout.Token);
            await registry.DeregisterAsync(_service!, _instanceId!, timeout.Token);
            _registered = false;
            LogDeregistered(logger, _service!, _instanceId!, options.Value.Registry.DrainDelay);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            // The lease will run out on its own; draining still helps the watchers that are reachable.
            LogDeregisterFailed(logger, ExceptionReason.Of(ex));
        }

        var drain = options.Value.Registry.DrainDelay;
        if (drain > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(drain, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // The host's shutdown timeout wins over the drain delay.
            }
        }

        LogDrained(logger, _service!, _instanceId!);
    }

    private async Task RunAsync(MeshOptions mesh, CancellationToken cancellationToken)
    {
        var address = mesh.Registry.AdvertiseAddress ?? ListeningAddress();
        if (address is null)
        {
            LogNoAddress(logger);
            return;
        }

        if (mesh.Registry.AdvertiseAddress is null && security.Enabled && address.Scheme == Uri.UriSchemeHttp)
        {
            // Kestrel binds http://, but mesh TLS answers on it: advertising https tells peers to originate mTLS.
            address = new UriBuilder(address) { Scheme = Uri.UriSchemeHttps }.Uri;
        }

        _instanceId = mesh.Registry.InstanceId ?? InstanceId(address);
        var labels = new Dictionary<string, string>(mesh.Service.Labels, StringComparer.Ordinal);
        if (MetricsAddress(address) is { } metrics)
        {
            labels[MeshRegistryLabels.MetricsAddress] = metrics;
        }

        var registration = new InstanceRegistration
        {
            Address = address.GetLeftPart(UriPartial.Authority),
            Version = mesh.Service.Version,
            Zone = mesh.Service.Zone,
            Labels = labels,
            TtlSeconds = mesh.Registry.TtlSeconds,
        };
        var renewEvery = TimeSpan.FromSeconds(mesh.Registry.TtlSeconds / 3.0);
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan next;
            try
            {
                // The traffic since the last renewal rides along (the first registration has none to tell). A failed
                // renewal loses its window: the dashboard shows rates, and a gap is better than a burst.
                // The certificate in use right now: a renewal may have replaced it since the last lease renewal.
                stats.CertificateExpiresAt = security.CertificateExpiresAt;
                registration.Stats = _registered ? stats.Snapshot() : null;
                await registry.RegisterAsync(mesh.Service.Name!, _instanceId, registration, cancellationToken);
                if (!_registered)
                {
                    _registered = true;
                    LogRegistered(logger, mesh.Service.Name!, _instanceId, registration.Address);
                }

                failures = 0;
                next = renewEvery;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                failures++;
                LogRegisterFailed(logger, ExceptionReason.Of(ex));

                // Retry sooner than the renewal interval, so the lease does not lapse over one lost request.
                next = TimeSpan.FromSeconds(Math.Min(renewEvery.TotalSeconds / 2, Math.Pow(2, Math.Min(failures, 5)) * 0.1));
            }

            try
            {
                await Task.Delay(next, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Where a plain Prometheus scrapes this instance: the metrics listener as others reach it (the IP it is bound to, or
    /// for a wildcard binding the host this instance advertises, with the listener's port); without one, the plaintext
    /// side of a Permissive app; null when that is the advertised address itself or there is none.
    /// </summary>
    private string? MetricsAddress(Uri advertised)
    {
        if (metricsListener.BoundAddress is not { } bound)
        {
            // A Permissive app advertises https for mesh peers and still answers plaintext on the same port: a scraper
            // without a mesh certificate is told to use that. A Strict one has nothing to offer it but mTLS.
            return advertised.Scheme == Uri.UriSchemeHttps && options.Value.Security.Mode == MeshSecurityMode.Permissive
                ? new UriBuilder(advertised) { Scheme = Uri.UriSchemeHttp }.Uri.GetLeftPart(UriPartial.Authority)
                : null;
        }

        var host = System.Net.IPAddress.TryParse(bound.Host.Trim('[', ']'), out var ip) && !ip.Equals(System.Net.IPAddress.Any) && !ip.Equals(System.Net.IPAddress.IPv6Any)
            ? bound.Host
            : advertised.Host;
        return new UriBuilder(Uri.UriSchemeHttp, host, bound.Port).Uri.GetLeftPart(UriPartial.Authority);
    }

    private Uri? ListeningAddress()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses is null)
        {
            return null;
        }

        foreach (var a in addresses)
        {
            // Kestrel reports wildcard bindings as http://[::]:80 or http://+:80; loopback is reachable from this
            // machine, and AdvertiseAddress says where to reach the app from elsewhere.
            var text = a.Replace("://+:", "://127.0.0.1:", StringComparison.Ordinal).Replace("://*:", "://127.0.0.1:", StringComparison.Ordinal)
                .Replace("://[::]:", "://127.0.0.1:", StringComparison.Ordinal).Replace("://0.0.0.0:", "://127.0.0.1:", StringComparison.Ordinal);
            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            {
                return uri;
            }
        }

        return null;
    }

    private static string InstanceId(Uri address)
    {
        var raw = $"{Environment.MachineName}-{address.Port}".ToLowerInvariant();
        var chars = raw.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray();
        var id = new string(chars);
        id = id.Length > 63 ? id[..63] : id;
        return MeshPolicyValidation.IsValidName(id) ? id : $"instance-{address.Port}";
    }

    public void Dispose()
    {
        _stopping.Dispose();
    }

    [LoggerMessage(20, LogLevel.Information, "Registered {Service}/{Id} at {Address} with the mesh registry")]
    private static partial void LogRegistered(ILogger logger, string service, string id, string? address);

    [LoggerMessage(21, LogLevel.Warning, "Mesh registration failed, retrying: {Reason}")]
    private static partial void LogRegisterFailed(ILogger logger, string reason);

    [LoggerMessage(22, LogLevel.Information, "Deregistered {Service}/{Id}; serving for {DrainDelay} before the server stops")]
    private static partial void LogDeregistered(ILogger logger, string service, string id, TimeSpan drainDelay);

    [LoggerMessage(23, LogLevel.Warning, "Mesh deregistration failed: {Reason}; the lease will expire on its own")]
    private static partial void LogDeregisterFailed(ILogger logger, string reason);

    [LoggerMessage(24, LogLevel.Warning, "Not registering with the mesh registry: no HTTP address is bound; set Mesh:Registry:AdvertiseAddress")]
    private static partial void LogNoAddress(ILogger logger);

    [LoggerMessage(25, LogLevel.Information, "Drained {Service}/{Id}; the server stops now")]
    private static partial void LogDrained(ILogger logger, string service, string id);
}
