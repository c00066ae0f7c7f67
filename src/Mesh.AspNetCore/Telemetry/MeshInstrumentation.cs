using Mesh.Client.Hosting;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>The names OpenTelemetry listens to for the mesh's own signals.</summary>
internal static class MeshInstrumentation
{
    /// <summary>The mesh's activity sources; the inbound side records no spans of its own beyond ASP.NET Core's.</summary>
    public static readonly IReadOnlyList<string> ActivitySources = [MeshInbound.ActivitySourceName];

    /// <summary>The mesh's meters, the same set <c>/metrics</c> always exports: the client pipeline, the inbound side and security.</summary>
    public static readonly IReadOnlyList<string> Meters = [MeshInbound.MeterName, "Mesh.AspNetCore", "Mesh.Security"];
}
