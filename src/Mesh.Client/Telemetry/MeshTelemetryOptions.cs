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
    /// The most label sets one metric keeps on <c>/metrics</c> (OpenTelemetry's cardinality limit); measurements of
    /// further label sets add up in one series labelled <c>otel_metric_overflow="true"</c>. Guards memory against
    /// unbounded label values. 2,000 by default.
    /// </summary>
    public int MaxSeriesPerMetric { get; set; } = 2000;

    /// <summary>
    /// A plaintext listener of its own for Prometheus, e.g. <c>http://0.0.0.0:9464</c> (port 0: any free port),
    /// serving only <c>/metrics</c> and <c>/healthz</c>, outside mesh TLS and the app's pipeline. When set, it is what
    /// the instance advertises to the registry for scraping (<c>GET /v1/prometheus/targets</c>), which lets a stock
    /// Prometheus scrape a Strict app. Off by default.
    /// </summary>
    public Uri? MetricsListener { get; set; }

    /// <summary>OpenTelemetry export over OTLP; off unless <see cref="MeshOtlpOptions.Endpoint"/> is set.</summary>
    public MeshOtlpOptions Otlp { get; set; } = new();
}
