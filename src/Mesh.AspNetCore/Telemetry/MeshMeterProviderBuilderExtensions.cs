using Mesh.AspNetCore.Telemetry;
using Mesh.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace OpenTelemetry.Metrics;

/// <summary>Adds the mesh's metrics to an OpenTelemetry meter provider the app builds itself.</summary>
public static class MeshMeterProviderBuilderExtensions
{
    /// <summary>
    /// Listens to the mesh's meters (<c>Mesh.Client</c>, <c>Mesh.AspNetCore</c>, <c>Mesh.Security</c>) and, in an app
    /// with <c>AddMesh()</c>, to the meters named in <c>Mesh:Telemetry:Meters</c>: the same meters <c>/metrics</c>
    /// exports. With this on the app's <c>AddOpenTelemetry()</c> builder, the app and the mesh share one meter provider.
    /// </summary>
    public static MeterProviderBuilder AddMeshInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddMeter([.. MeshInstrumentation.Meters]);

        // The configured meters are known once the container is built (and there are none without AddMesh()). A
        // provider built without a container (Sdk.CreateMeterProviderBuilder()) still gets the mesh's own.
        if (builder is IDeferredMeterProviderBuilder deferred)
        {
            deferred.Configure((services, b) =>
            {
                if (services.GetService<IOptions<MeshOptions>>() is { } options && options.Value.Telemetry.Meters.Count > 0)
                {
                    b.AddMeter([.. options.Value.Telemetry.Meters]);
                }
            });
        }

        return builder;
    }
}
