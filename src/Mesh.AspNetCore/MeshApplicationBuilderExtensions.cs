using Mesh.AspNetCore.Inbound;
using Mesh.AspNetCore.RateLimiting;
using Mesh.AspNetCore.Telemetry;
using Mesh.AspNetCore.Security;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The inbound side of MeshLib.</summary>
public static class MeshApplicationBuilderExtensions
{
    /// <summary>
    /// Adds the mesh's inbound middleware: first the server-side metrics and the access log (so they see every
    /// request, including those later middleware refuses), then the caller's mesh identity becomes
    /// <c>HttpContext.User</c> and the <c>Mesh:Authorization</c> rules apply, then the <c>Mesh:RateLimits</c> rules
    /// (429 over a limit), then the caller's time budget bounds
    /// outbound mesh calls made while serving the request.
    /// </summary>
    public static IApplicationBuilder UseMesh(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<MeshTelemetryMiddleware>();
        app.UseMiddleware<MeshAuthorizationMiddleware>();
        app.UseMiddleware<MeshRateLimitMiddleware>();
        return app.UseMiddleware<MeshInboundMiddleware>();
    }

    /// <summary>
    /// Maps the mesh's endpoints: <c>/healthz</c>, the health of the app and of its mesh configuration, and
    /// <c>/metrics</c>, the mesh's meters and those named in <c>Mesh:Telemetry:Meters</c> in the Prometheus text format
    /// (OpenTelemetry's Prometheus exporter on the app's meter provider, which <c>AddMesh()</c> shares).
    /// Conventions added to the result (e.g. <c>RequireHost</c>, <c>RequireAuthorization</c>) apply to both.
    /// </summary>
    public static IEndpointConventionBuilder MapMeshEndpoints(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var health = endpoints.MapHealthChecks("/healthz", new HealthCheckOptions());

        // The meter provider, built at host start, adds the Prometheus exporter because this flag is set. It is looked
        // up at the first scrape, not now: building it here would read the mesh options, and bad options must fail the
        // host's start with every error listed, not the call that maps endpoints.
        var services = endpoints.ServiceProvider;
        var startup = services.GetService<MeshMetricsEndpoint>()
            ?? throw new InvalidOperationException("MapMeshEndpoints() needs AddMesh() on the app's services.");
        startup.Mapped = true;
        var scrape = new Lazy<RequestDelegate>(() =>
        {
            var branch = endpoints.CreateApplicationBuilder();
            branch.UseOpenTelemetryPrometheusScrapingEndpoint(
                meterProvider: null, predicate: static _ => true, path: null, configureBranchedPipeline: null, optionsName: null);
            return branch.Build();
        });
        var metrics = endpoints.MapGet("/metrics", (HttpContext context) =>
        {
            context.Response.Headers.CacheControl = "no-store";
            return scrape.Value(context);
        });
        return new MeshEndpointConventionBuilder([health, metrics]);
    }
}
