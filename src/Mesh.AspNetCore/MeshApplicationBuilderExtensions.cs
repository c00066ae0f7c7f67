using Mesh.AspNetCore.Inbound;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The inbound side of MeshLib.</summary>
public static class MeshApplicationBuilderExtensions
{
    /// <summary>
    /// Adds the mesh's inbound middleware. Today it honours the caller's time budget: outbound mesh calls made while
    /// serving a request never outlive the caller's deadline. Identity, authorization and rate limits join it as the
    /// mesh's security features land.
    /// </summary>
    public static IApplicationBuilder UseMesh(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseMiddleware<MeshInboundMiddleware>();
    }

    /// <summary>Maps the mesh's endpoints: <c>/healthz</c>, the health of the app and of its mesh configuration.</summary>
    public static IEndpointConventionBuilder MapMeshEndpoints(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapHealthChecks("/healthz", new HealthCheckOptions());
    }
}
