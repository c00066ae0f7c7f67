using Mesh.Registry.Ca;
using Mesh.Registry.Consul;
using Mesh.Registry.Dashboard;
using Mesh.Registry.Instances;
using Mesh.Registry.Policies;
using Mesh.Registry.Prometheus;
using Mesh.Registry.Rollouts;
using Mesh.Registry.Watches;

namespace Mesh.Registry;

/// <summary>
/// The registry's HTTP API (see <c>src/Mesh.Registry/README.md</c>): instances with leases and long-poll watches,
/// versioned policies validated with the very code clients run, the CA, bearer-token auth. JSON is camelCase; every
/// error is <c>application/problem+json</c> naming the fields at fault.
/// </summary>
internal static class RegistryEndpoints
{
    /// <summary>See <see cref="MeshRegistryHostingExtensions.MapMeshRegistry"/>.</summary>
    public static WebApplication Map(WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<AuthFailureLimitMiddleware>();
        app.MapHealthChecks("/healthz");

        var v1 = app.MapGroup("/v1");
        WatchEndpoints.Map(v1);
        InstanceEndpoints.Map(v1);
        PolicyEndpoints.Map(v1);
        RolloutEndpoints.Map(v1);
        CaEndpoints.Map(v1);
        JoinTokenEndpoints.Map(v1);
        DashboardEndpoints.Map(v1);
        PrometheusTargetEndpoints.Map(v1);
        ConsulEndpoints.Map(v1);
        app.MapMeshDashboard();
        return app;
    }
}
