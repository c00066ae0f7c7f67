using Mesh.Client.Runtime;
using Mesh.Client.Telemetry;

namespace Mesh.Client.Hosting;

/// <summary>
/// What a server integration needs of the mesh runtime to serve inbound requests: the authorization rules and
/// switches in force (<see cref="InboundModel"/>, replaced whole on every reload or policy change) and the destination
/// side of the request metrics, recorded on the same instruments the client pipeline reports on. A hosting seam for
/// Mesh.AspNetCore and other hosts; apps do not need it. Registered by <c>AddMeshClient()</c>.
/// </summary>
public sealed class MeshInbound
{
    /// <summary>The meter both sides of a mesh call record on; exporters select it by this name.</summary>
    public const string MeterName = MeshTelemetry.MeterName;

    /// <summary>The activity source of the mesh's spans.</summary>
    public const string ActivitySourceName = MeshTelemetry.ActivitySourceName;

    private readonly MeshRuntime _runtime;

    internal MeshInbound(MeshRuntime runtime)
    {
        _runtime = runtime;
        runtime.ModelChanged += model => ModelChanged?.Invoke(model.Inbound);
    }

    /// <summary>The bucket boundaries, in seconds, of the request duration histogram.</summary>
    public static IReadOnlyList<double> DurationBuckets { get; } = Array.AsReadOnly(MeshTelemetry.DurationBuckets);

    /// <summary>The inbound model in force now.</summary>
    public InboundModel Model => _runtime.Model.Inbound;

    /// <summary>Raised, off the request path, after a new model is in force.</summary>
    public event Action<InboundModel>? ModelChanged;

    /// <summary>This app's service name as the metrics and access log report it (<c>unknown</c> when unset).</summary>
    public string ServiceName => _runtime.Telemetry.SourceService;

    /// <summary>This app's version as the metrics and access log report it (<c>unknown</c> when unset).</summary>
    public string ServiceVersion => _runtime.Telemetry.SourceVersion;

    /// <summary>Whether any request instrument is listened to; when not, recording can be skipped whole.</summary>
    public bool RequestMetricsEnabled => _runtime.Telemetry.RequestsEnabled;

    /// <summary>Records a request this app served (<c>reporter="destination"</c>).</summary>
    public void RecordRequest(string sourceService, string sourceVersion, string route, int statusCode, string grpcStatus, bool mutualTls,
        long requestBytes, long responseBytes, double seconds) =>
        _runtime.Telemetry.RecordInbound(sourceService, sourceVersion, route, statusCode, grpcStatus, mutualTls, requestBytes, responseBytes, seconds);
}
