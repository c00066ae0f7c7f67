using Mesh.AspNetCore.Inbound;
using Mesh.Client;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds MeshLib to an ASP.NET Core app.</summary>
public static class MeshServiceCollectionExtensions
{
    /// <summary>
    /// Adds the mesh: binds the <c>Mesh</c> configuration section (validated at host start), meshes every
    /// <c>IHttpClientFactory</c> client, and registers what <c>UseMesh()</c> and <c>MapMeshEndpoints()</c> need.
    /// </summary>
    public static IServiceCollection AddMesh(this IServiceCollection services, Action<MeshOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddMeshClient(configure);
        services.TryAddSingleton<MeshInboundMiddleware>();
        services.TryAddSingleton<MeshTrafficStats>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, MeshRegistration>());
        services.AddHealthChecks().AddCheck<MeshHealthCheck>("mesh", tags: ["mesh"]);
        return services;
    }
}
