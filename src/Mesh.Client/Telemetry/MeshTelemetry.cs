using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Mesh.Client.LoadBalancing;

namespace Mesh.Client.Telemetry;

/// <summary>
/// The mesh's client-side signals: a span per logical call with a child per attempt (<see cref="ActivitySourceName"/>),
/// and request, latency and mesh-health instruments on the <see cref="MeterName"/> meter. Instruments cost next to
/// nothing when nobody listens.
/// </summary>
internal sealed class MeshTelemetry : IDisposable
{
    public const string ActivitySourceName = "Mesh.Client";
    public const string MeterName = "Mesh.Client";

    public static readonly ActivitySource ActivitySource = new(ActivitySourceName);

    /// <summary>0.5 ms to 10 s: below is noise for a network call, above is a timeout in any sane policy.</summary>
    internal static readonly double[] DurationBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly string[] StatusTexts = BuildNumberTexts(600);

    /// <summary>64 B to 16 MiB in powers of four.</summary>
    internal static readonly double[] SizeBuckets = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

    // Span tags take objects: boxing a status code, port or count on every request is an allocation each, so the
    // common small values are boxed once.
    private static readonly object[] Boxes = BuildBoxes(1024);

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Histogram<long> _requestBytes;
    private readonly Histogram<long> _responseBytes;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _budgetExhausted;
    private readonly Counter<long> _ejections;
    private readonly Counter<long> _faults;
    private readonly Counter<long> _configReloads;
    private readonly Counter<long> _mirrors;
    private readonly Counter<long> _crossZone;
    private readonly Counter<long> _overflows;
    private readonly Counter<long> _hedges;

    public MeshTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _requests = _meter.CreateCounter<long>("mesh.requests", "{request}", "Requests through the mesh, reported by the source (client) and by the destination (server).");
        _duration = _meter.CreateHistogram("mesh.request.duration", "s", "Duration of requests: on the source side the logical call, retries included; on the destination side the serving of it.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _requestBytes = _meter.CreateHistogram("mesh.request.bytes", "By", "Request body sizes as declared by Content-Length.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = Array.ConvertAll(SizeBuckets, b => (long)b) });
        _responseBytes = _meter.CreateHistogram("mesh.response.bytes", "By", "Response body sizes as declared by Content-Length.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = Array.ConvertAll(SizeBuckets, b => (long)b) });
        _retries = _meter.CreateCounter<long>("mesh.retries", "{retry}", "Retry attempts made.");
        _budgetExhausted = _meter.CreateCounter<long>("mesh.retry_budget.exhausted", "{retry}", "Retries refused by the retry budget.");
        _ejections = _meter.CreateCounter<long>("mesh.outlier.ejections", "{ejection}", "Endpoints ejected by outlier detection.");
        _faults = _meter.CreateCounter<long>("mesh.faults.injected", "{fault}", "Faults injected by route policy.");
        _configReloads = _meter.CreateCounter<long>("mesh.config.reloads", "{reload}", "Mesh configuration reloads, accepted or rejected.");
        _mirrors = _meter.CreateCounter<long>("mesh.mirror.requests", "{request}", "Mirrored copies of requests sent.");
        _crossZone = _meter.CreateCounter<long>("mesh.cross_zone.requests", "{request}", "Attempts sent to an endpoint outside the caller's zone by locality-aware balancing.");
        _overflows = _meter.CreateCounter<long>("mesh.overflow", "{request}", "Calls answered 503 at once because the destination service's ConnectionPool limits were full.");
        _hedges = _meter.CreateCounter<long>("mesh.hedges", "{hedge}", "Hedged attempts started beside an attempt still waiting for its answer.");
    }

    /// <summary>This app's own service name and version, the <c>source_*</c> labels.</summary>
    public string SourceService { get; set; } = "unknown";

    public string SourceVersion { get; set; } = "unknown";

    public bool RequestsEnabled => _requests.Enabled || _duration.Enabled || _requestBytes.Enabled || _responseBytes.Enabled;

    /// <summary>An int as a span tag value, without allocating for values in [0, 1024).</summary>
    public static object Box(int value) => (uint)value < (uint)Boxes.Length ? Boxes[value] : value;

    /// <summary>The client side of a logical call (<c>reporter="source"</c>).</summary>
    public void RecordRequest(string service, string version, string route, int statusCode, string grpcStatus, bool mutualTls,
        long requestBytes, long responseBytes, double seconds)
    {
        if (!_requests.Enabled && !_duration.Enabled && !_requestBytes.Enabled && !_responseBytes.Enabled)
        {
            return;
        }

        Record("source", SourceService, SourceVersion, service, version, route, statusCode, grpcStatus,
            mutualTls, requestBytes, responseBytes, seconds);
    }

    /// <summary>The server side of a request this app served (<c>reporter="destination"</c>).</summary>
    public void RecordInbound(string sourceService, string sourceVersion, string route, int statusCode, string grpcStatus, bool mutualTls,
        long requestBytes, long responseBytes, double seconds)
    {
        if (!_requests.Enabled && !_duration.Enabled && !_requestBytes.Enabled && !_responseBytes.Enabled)
        {
            return;
        }

        Record("destination", sourceService, sourceVersion, SourceService, SourceVersion, route, statusCode, grpcStatus, mutualTls,
            requestBytes, responseBytes, seconds);
    }

    private void Record(string reporter, string sourceService, string sourceVersion, string destinationService, string destinationVersion,
        string route, int statusCode, string grpcStatus, bool mutualTls, long requestBytes, long responseBytes, double seconds)
    {
        // Nine tags: one more than TagList keeps inline, so they live in an inline array on the stack instead.
        var tags = default(RequestTags);
        tags[0] = new("reporter", reporter);
        tags[1] = new("source_service", sourceService);
        tags[2] = new("source_version", sourceVersion);
        tags[3] = new("destination_service", destinationService);
        tags[4] = new("destination_version", destinationVersion);
        tags[5] = new("route", route);
        tags[6] = new("response_code", StatusText(statusCode));
        tags[7] = new("grpc_status", GrpcStatusText(grpcStatus));
        tags[8] = new("connection_security", mutualTls ? "mutual_tls" : "none");
        ReadOnlySpan<KeyValuePair<string, object?>> span = tags;
        _requests.Add(1, span);
        _duration.Record(seconds, span);
        _requestBytes.Record(Math.Max(0, requestBytes), span);
        _responseBytes.Record(Math.Max(0, responseBytes), span);
    }

    /// <summary>
    /// Mesh health read when a collector asks: endpoints per service, those ejected by outlier detection, and those
    /// whose circuit breaker is open.
    /// </summary>
    public void ObserveHealth(IEndpointHealthSource runtime)
    {
        _meter.CreateObservableGauge("mesh.endpoints", () => Observe(runtime, static (_, _) => true), "{endpoint}",
            "Endpoints known per destination service.");
        _meter.CreateObservableGauge("mesh.outlier.ejected", () => Observe(runtime, static (e, now) => e.IsEjected(now)), "{endpoint}",
            "Endpoints currently ejected by outlier detection.");
        _meter.CreateObservableGauge("mesh.circuit_breaker.open", () => Observe(runtime, static (e, _) => AnyBreakerOpen(e)), "{endpoint}",
            "Endpoints with an open circuit breaker.");
    }

    private static List<Measurement<long>> Observe(IEndpointHealthSource runtime, Func<EndpointState, long, bool> counts)
    {
        var now = runtime.TimeProvider.GetTimestamp();
        var result = new List<Measurement<long>>();
        foreach (var (name, endpoints) in runtime.EndpointsByService())
        {
            long n = 0;
            foreach (var endpoint in endpoints)
            {
                if (counts(endpoint, now))
                {
                    n++;
                }
            }

            result.Add(new Measurement<long>(n, new KeyValuePair<string, object?>("destination_service", name)));
        }

        return result;
    }

    private static bool AnyBreakerOpen(EndpointState endpoint)
    {
        foreach (var breaker in endpoint.Breakers.Values)
        {
            if (breaker.IsOpenState)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A gRPC status as a label: the peer writes the header, so only the codes gRPC defines (0 to 16) are kept and
    /// anything else is <c>unknown</c>; a peer cannot mint series with made-up values.
    /// </summary>
    internal static string GrpcStatusText(string grpcStatus)
    {
        if (grpcStatus.Length == 0)
        {
            return string.Empty;
        }

        var value = GrpcStatusCode(grpcStatus);
        return value >= 0 ? StatusTexts[value] : "unknown";
    }

    /// <summary>A gRPC status as its code, 0 to 16; -1 when there is none or it is not one of gRPC's.</summary>
    internal static int GrpcStatusCode(string grpcStatus)
    {
        var value = grpcStatus.Length switch
        {
            1 when char.IsAsciiDigit(grpcStatus[0]) => grpcStatus[0] - '0',
            2 when char.IsAsciiDigit(grpcStatus[0]) && char.IsAsciiDigit(grpcStatus[1]) && grpcStatus[0] != '0' =>
                ((grpcStatus[0] - '0') * 10) + (grpcStatus[1] - '0'),
            _ => -1,
        };
        return value is >= 0 and <= 16 ? value : -1;
    }

    private static string StatusText(int statusCode) =>
        (uint)statusCode < (uint)StatusTexts.Length ? StatusTexts[statusCode] : statusCode.ToString(CultureInfo.InvariantCulture);

    public void RecordRetry(string service, string route) =>
        _retries.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("route", route));

    public void RecordBudgetExhausted(string service) =>
        _budgetExhausted.Add(1, new KeyValuePair<string, object?>("destination_service", service));

    public void RecordEjection(string service, EndpointState endpoint) =>
        _ejections.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("endpoint", endpoint.Authority));

    public void RecordOverflow(string service) =>
        _overflows.Add(1, new KeyValuePair<string, object?>("destination_service", service));

    public void RecordFault(string service, string route, string fault) =>
        _faults.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("route", route),
            new KeyValuePair<string, object?>("fault", fault));

    public void RecordConfigReload(bool accepted) =>
        _configReloads.Add(1, new KeyValuePair<string, object?>("result", accepted ? "accepted" : "rejected"));

    /// <param name="service">The destination service.</param>
    /// <param name="result"><c>sent</c>, <c>failed</c>, or <c>skipped</c> (a streaming body, which mirroring would have to wait for).</param>
    public void RecordMirror(string service, string result) =>
        _mirrors.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("result", result));

    /// <param name="service">The destination service.</param>
    /// <param name="sourceZone">The caller's zone.</param>
    /// <param name="destinationZone">The endpoint's zone, <c>unknown</c> when it has none.</param>
    public void RecordCrossZone(string service, string sourceZone, string destinationZone) =>
        _crossZone.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("source_zone", sourceZone),
            new KeyValuePair<string, object?>("destination_zone", destinationZone));
    public void RecordHedge(string service, string route) =>
        _hedges.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("route", route));

    public void Dispose() => _meter.Dispose();

    [System.Runtime.CompilerServices.InlineArray(9)]
    private struct RequestTags
    {
        private KeyValuePair<string, object?> _first;
    }

    private static object[] BuildBoxes(int count)
    {
        var boxes = new object[count];
        for (var i = 0; i < count; i++)
        {
            boxes[i] = i;
        }

        return boxes;
    }

    private static string[] BuildNumberTexts(int count)
    {
        var texts = new string[count];
        for (var i = 0; i < count; i++)
        {
            texts[i] = i.ToString(CultureInfo.InvariantCulture);
        }

        return texts;
    }
}
