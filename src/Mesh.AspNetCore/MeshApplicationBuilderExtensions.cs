using Mesh.AspNetCore.Inbound;
using Mesh.AspNetCore.Telemetry;
using Mesh.AspNetCore.Security;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The inbound side of MeshLib.</summary>
public static class MeshApplicationBuilderExtensions
{
    /// <summary>
    /// Adds the mesh's inbound middleware: first the server-side metrics and the access log (so they see every
    /// request, including those later middleware refuses), then the caller's mesh identity becomes
    /// <c>HttpContext.User</c> and the <c>Mesh:Authorization</c> rules apply, then the caller's time budget bounds
    /// outbound mesh calls made while serving the request.
    /// </summary>
    public static IApplicationBuilder UseMesh(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<MeshTelemetryMiddleware>();
        app.UseMiddleware<MeshAuthorizationMiddleware>();
        return app.UseMiddleware<MeshInboundMiddleware>();
    }

    /// <summary>
    /// Maps the mesh's endpoints: <c>/healthz</c>, the health of the app and of its mesh configuration, and
    /// <c>/metrics</c>, the mesh's meters and those named in <c>Mesh:Telemetry:Meters</c> in the Prometheus text format.
    /// Conventions added to the result (e.g. <c>RequireHost</c>, <c>RequireAuthorization</c>) apply to both.
    /// </summary>
    public static IEndpointConventionBuilder MapMeshEndpoints(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var health = endpoints.MapHealthChecks("/healthz", new HealthCheckOptions());

        // The exporter starts with the host (see MeshMetricsEndpoint). An app with AddMeshClient() alone has none
        // registered: it gets its own at the first scrape, disposed when the app stops.
        if (endpoints.ServiceProvider.GetService<MeshMetricsEndpoint>() is { } startup)
        {
            startup.Mapped = true;
        }

        var services = endpoints.ServiceProvider;
        var exporter = new Lazy<PrometheusExporter>(() => services.GetService<PrometheusExporter>() ?? OwnExporter(services));
        var metrics = endpoints.MapGet("/metrics", (HttpContext context) =>
        {
            var text = exporter.Value.Scrape();
            context.Response.ContentType = PrometheusExporter.ContentType;
            context.Response.Headers.CacheControl = "no-store";
            return context.Response.WriteAsync(text, context.RequestAborted);
        });
        return new MeshEndpointConventionBuilder([health, metrics]);
    }

    private static PrometheusExporter OwnExporter(IServiceProvider services)
    {
        var exporter = ActivatorUtilities.CreateInstance<PrometheusExporter>(services);
        services.GetService<IHostApplicationLifetime>()?.ApplicationStopped.Register(exporter.Dispose);
        return exporter;
    }
}
