namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// Whether <c>MapMeshEndpoints()</c> mapped <c>/metrics</c>. Read when the app's meter provider is built (at host
/// start, after the endpoints are mapped): only then does the provider listen to the mesh's meters for Prometheus, so
/// an app without <c>/metrics</c> (and without OTLP export) never pays for the listener.
/// </summary>
internal sealed class MeshMetricsEndpoint
{
    public bool Mapped { get; set; }
}
