using Mesh.AspNetCore.Inbound;
using Mesh.AspNetCore.Security;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The inbound side of MeshLib.</summary>
public static class MeshApplicationBuilderExtensions
{
    /// <summary>
    /// Adds the mesh's inbound middleware: the caller's mesh identity becomes <c>HttpContext.User</c>, the
    /// <c>Mesh:Authorization</c> rules apply, and the caller's time budget bounds outbound mesh calls made while
    /// serving the request.
    /// </summary>
    public static IApplicationBuilder UseMesh(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<MeshAuthorizationMiddleware>();
        return app.UseMiddleware<MeshInboundMiddleware>();
    }

    /// <summary>Maps the mesh's endpoints: <c>/healthz</c>, the health of the app and of its mesh configuration.</summary>
    public static IEndpointConventionBuilder MapMeshEndpoints(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapHealthChecks("/healthz", new HealthCheckOptions());
    }
}
