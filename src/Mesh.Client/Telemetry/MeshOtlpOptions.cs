namespace Mesh.Client;

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
