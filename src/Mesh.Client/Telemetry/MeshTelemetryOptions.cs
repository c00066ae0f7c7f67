namespace Mesh.Client;

/// <summary>
/// The <c>Mesh:Telemetry</c> section: what <c>/metrics</c> exports, the access log, and OpenTelemetry (OTLP) export.
/// </summary>
public sealed class MeshTelemetryOptions
{
    /// <summary>
    /// Names of the app's own meters to export on <c>/metrics</c> besides the mesh's (<c>Mesh.Client</c>,
    /// <c>Mesh.AspNetCore</c>, <c>Mesh.Security</c>).
    /// </summary>
    public IList<string> Meters { get; set; } = new List<string>();

    /// <summary>One structured log line per inbound request (category <c>Mesh.AccessLog</c>). Off by default.</summary>
    public bool AccessLog { get; set; }

    /// <summary>
    /// The most label sets one metric keeps on <c>/metrics</c>; measurements of further label sets are dropped and
    /// counted in <c>mesh_metrics_series_dropped_total</c>. Guards memory against unbounded label values. 2,000 by default.
    /// </summary>
    public int MaxSeriesPerMetric { get; set; } = 2000;

    /// <summary>OpenTelemetry export over OTLP; off unless <see cref="MeshOtlpOptions.Endpoint"/> is set.</summary>
    public MeshOtlpOptions Otlp { get; set; } = new();
}

/// <summary>The <c>Mesh:Telemetry:Otlp</c> section.</summary>
public sealed class MeshOtlpOptions
{
    /// <summary>The collector, e.g. <c>http://127.0.0.1:4317</c>. Unset (the default) turns OTLP export off.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary><c>grpc</c> (the default) or <c>http/protobuf</c>.</summary>
    public string Protocol { get; set; } = "grpc";

    /// <summary>How often metrics are pushed; 15 s by default.</summary>
    public TimeSpan MetricsInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long one export may take before it is abandoned; 5 s by default. Requests never wait for it.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);
}
