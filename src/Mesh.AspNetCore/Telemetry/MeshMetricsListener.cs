using System.Net;
using Mesh.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// <c>Mesh:Telemetry:MetricsListener</c>: a Kestrel server of its own, plaintext, serving only <c>/metrics</c> (the app's
/// Prometheus exporter) and <c>/healthz</c> (the app's health checks); everything else is 404. A server apart from the
/// app's, not one more endpoint of it: the app's endpoints carry mesh TLS (<see cref="Security.MeshKestrelSetup"/>) and
/// its pipeline, and an endpoint added in code would make Kestrel ignore the app's <c>--urls</c>.
/// </summary>
internal sealed partial class MeshMetricsListener(
    IOptions<MeshOptions> options,
    IServiceProvider services,
    ILoggerFactory loggerFactory,
    ILogger<MeshMetricsListener> logger) : IHostedService, IAsyncDisposable
{
    private KestrelServer? _server;

    /// <summary>Where it listens once started (the bound port when the configuration said 0); null when off.</summary>
    public Uri? BoundAddress { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Telemetry.MetricsListener is not { } listener)
        {
            return;
        }

        var kestrel = new KestrelServerOptions { ApplicationServices = services, AddServerHeader = false };
        kestrel.Limits.MaxRequestBodySize = 0;
        var endpoint = new IPEndPoint(ListenAddress(listener), listener.Port);
        // Plaintext without TLS negotiation can only be HTTP/1.1 here (what scrapers speak); asking for HTTP/2 as well
        // changed nothing but made Kestrel warn at every start.
        kestrel.Listen(endpoint, l => l.Protocols = HttpProtocols.Http1);
        var transport = new SocketTransportFactory(Options.Create(new SocketTransportOptions()), loggerFactory);
        _server = new KestrelServer(Options.Create(kestrel), transport, loggerFactory);
        await _server.StartAsync(new MeshMetricsListenerApplication(BuildPipeline(), services.GetRequiredService<IHttpContextFactory>()), cancellationToken);

        var bound = _server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        BoundAddress = bound is null ? null : new Uri(bound);
        LogListening(logger, BoundAddress);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.StopAsync(cancellationToken);
        }
    }

    public ValueTask DisposeAsync()
    {
        _server?.Dispose();
        return ValueTask.CompletedTask;
    }

    private static IPAddress ListenAddress(Uri listener) =>
        string.Equals(listener.Host, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : IPAddress.Parse(listener.IdnHost);

    private RequestDelegate BuildPipeline()
    {
        var app = new ApplicationBuilder(services);
        app.UseHealthChecks("/healthz", new HealthCheckOptions());
        app.Use(static (context, next) =>
        {
            context.Response.Headers.CacheControl = "no-store";
            return next(context);
        });
        app.UseOpenTelemetryPrometheusScrapingEndpoint(
            meterProvider: null, predicate: static context => context.Request.Path == "/metrics", path: null, configureBranchedPipeline: null, optionsName: null);
        app.Run(static context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        return app.Build();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Mesh metrics listener on {Address} (/metrics, /healthz)")]
    private static partial void LogListening(ILogger logger, Uri? address);

}
