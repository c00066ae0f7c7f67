using Mesh.AspNetCore.Telemetry;

namespace OpenTelemetry.Trace;

/// <summary>Adds the mesh's spans to an OpenTelemetry tracer provider the app builds itself.</summary>
public static class MeshTracerProviderBuilderExtensions
{
    /// <summary>
    /// Listens to the mesh's <c>ActivitySource</c> (<c>Mesh.Client</c>: a client span per logical call, a child per
    /// attempt). Server spans are ASP.NET Core's own (<c>Microsoft.AspNetCore</c>); add its instrumentation or source
    /// as well to record them. With this on the app's <c>AddOpenTelemetry()</c> builder, the app and the mesh share one
    /// tracer provider.
    /// </summary>
    public static TracerProviderBuilder AddMeshInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource([.. MeshInstrumentation.ActivitySources]);
    }
}
