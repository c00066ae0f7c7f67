using Mesh.AspNetCore.Inbound;
using Mesh.AspNetCore.Security;
using Mesh.Client;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds MeshLib to an ASP.NET Core app.</summary>
public static class MeshServiceCollectionExtensions
{
    /// <summary>
    /// Adds the mesh: binds the <c>Mesh</c> configuration section (validated at host start), meshes every
    /// <c>IHttpClientFactory</c> client, and registers what <c>UseMesh()</c> and <c>MapMeshEndpoints()</c> need. OTLP
    /// export (<c>Mesh:Telemetry:Otlp:Endpoint</c>) goes through <c>AddOpenTelemetry()</c>, the app's own providers.
    /// </summary>
    public static IServiceCollection AddMesh(this IServiceCollection services, Action<MeshOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddMeshClient(configure);
        services.TryAddSingleton<MeshInboundMiddleware>();
        services.TryAddSingleton<Mesh.AspNetCore.Telemetry.MeshTelemetryMiddleware>();
        services.TryAddSingleton<Mesh.AspNetCore.Telemetry.SourceVersionLabels>();
        services.TryAddSingleton<Mesh.AspNetCore.Telemetry.MeshMetricsEndpoint>();

        // A scrape shows the measurements up to now (no cached response), with the labels the docs and dashboards
        // name: the scope is not a label, since the view keeps one app's meters apart from another's.
        services.Configure<OpenTelemetry.Exporter.PrometheusAspNetCoreOptions>(o =>
        {
            o.ScrapeResponseCacheDurationMilliseconds = 0;
            o.ScopeInfoEnabled = false;
        });
        if (!services.Any(d => d.ServiceType == typeof(Mesh.AspNetCore.Telemetry.MeshOpenTelemetry)))
        {
            // The same builder as the app's own AddOpenTelemetry(): one tracer and one meter provider per app, to which
            // the mesh adds the Prometheus exporter when /metrics is mapped and OTLP export when
            // Mesh:Telemetry:Otlp:Endpoint is set.
            services.AddSingleton<Mesh.AspNetCore.Telemetry.MeshOpenTelemetry>();
            services.AddOpenTelemetry()
                .WithTracing(t => ((IDeferredTracerProviderBuilder)t).Configure((sp, b) => sp.GetRequiredService<Mesh.AspNetCore.Telemetry.MeshOpenTelemetry>().ConfigureTracing(b)))
                .WithMetrics(m => ((IDeferredMeterProviderBuilder)m).Configure((sp, b) => sp.GetRequiredService<Mesh.AspNetCore.Telemetry.MeshOpenTelemetry>().ConfigureMetrics(b)));
        }

        services.TryAddSingleton<MeshAuthorizationMiddleware>();
        services.TryAddSingleton<Mesh.AspNetCore.RateLimiting.MeshRateLimitMiddleware>();
        if (!services.Any(d => d.ImplementationType == typeof(MeshKestrelSetup)))
        {
            // First, so that the endpoint defaults are set before the app's own Kestrel configuration calls Listen().
            services.Insert(0, ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IConfigureOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>, MeshKestrelSetup>());
        }

        // Before registration: the first certificate is in hand before the app is advertised.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, MeshIdentityStartup>());
        services.TryAddSingleton<MeshTrafficStats>();
        services.TryAddSingleton<MeshDrainState>();
        services.TryAddSingleton<Mesh.AspNetCore.Telemetry.MeshMetricsListener>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, Mesh.AspNetCore.Telemetry.MeshMetricsListener>(
            static sp => sp.GetRequiredService<Mesh.AspNetCore.Telemetry.MeshMetricsListener>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, MeshRegistration>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IPostConfigureOptions<HostOptions>, MeshShutdownTimeout>());
        services.AddHealthChecks().AddCheck<MeshHealthCheck>("mesh", tags: ["mesh"]);
        return services;
    }
}
