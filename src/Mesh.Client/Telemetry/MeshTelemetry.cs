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
    private static readonly string[] AttemptTexts = BuildNumberTexts(16);

    // Span tags take objects: boxing a status code, port or count on every request is an allocation each, so the
    // common small values are boxed once.
    private static readonly object[] Boxes = BuildBoxes(1024);

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _budgetExhausted;
    private readonly Counter<long> _ejections;
    private readonly Counter<long> _faults;
    private readonly Counter<long> _configReloads;
    private readonly Counter<long> _mirrors;

    public MeshTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _requests = _meter.CreateCounter<long>("mesh.requests", "{request}", "Logical requests made through the mesh.");
        _duration = _meter.CreateHistogram("mesh.request.duration", "s", "Duration of logical requests, retries included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _retries = _meter.CreateCounter<long>("mesh.retries", "{retry}", "Retry attempts made.");
        _budgetExhausted = _meter.CreateCounter<long>("mesh.retry_budget.exhausted", "{retry}", "Retries refused by the retry budget.");
        _ejections = _meter.CreateCounter<long>("mesh.outlier.ejections", "{ejection}", "Endpoints ejected by outlier detection.");
        _faults = _meter.CreateCounter<long>("mesh.faults.injected", "{fault}", "Faults injected by route policy.");
        _configReloads = _meter.CreateCounter<long>("mesh.config.reloads", "{reload}", "Mesh configuration reloads, accepted or rejected.");
        _mirrors = _meter.CreateCounter<long>("mesh.mirror.requests", "{request}", "Mirrored copies of requests sent.");
    }

    /// <summary>This app's own service name and version, the <c>source_*</c> labels.</summary>
    public string SourceService { get; set; } = "unknown";

    public string SourceVersion { get; set; } = "unknown";

    public bool RequestsEnabled => _requests.Enabled || _duration.Enabled;

    /// <summary>An int as a span tag value, without allocating for values in [0, 1024).</summary>
    public static object Box(int value) => (uint)value < (uint)Boxes.Length ? Boxes[value] : value;

    public void RecordRequest(string service, string version, string route, int statusCode, int attempts, double seconds)
    {
        if (!_requests.Enabled && !_duration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { "reporter", "source" },
            { "source_service", SourceService },
            { "source_version", SourceVersion },
            { "destination_service", service },
            { "destination_version", version },
            { "route", route },
            { "response_code", (uint)statusCode < (uint)StatusTexts.Length ? StatusTexts[statusCode] : statusCode.ToString(CultureInfo.InvariantCulture) },
            { "attempts", (uint)attempts < (uint)AttemptTexts.Length ? AttemptTexts[attempts] : attempts.ToString(CultureInfo.InvariantCulture) },
        };
        _requests.Add(1, tags);
        _duration.Record(seconds, tags);
    }

    public void RecordRetry(string service, string route) =>
        _retries.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("route", route));

    public void RecordBudgetExhausted(string service) =>
        _budgetExhausted.Add(1, new KeyValuePair<string, object?>("destination_service", service));

    public void RecordEjection(string service, EndpointState endpoint) =>
        _ejections.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("endpoint", endpoint.Authority));

    public void RecordFault(string service, string route, string fault) =>
        _faults.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("route", route),
            new KeyValuePair<string, object?>("fault", fault));

    public void RecordConfigReload(bool accepted) =>
        _configReloads.Add(1, new KeyValuePair<string, object?>("result", accepted ? "accepted" : "rejected"));

    /// <param name="service">The destination service.</param>
    /// <param name="result"><c>sent</c>, <c>failed</c>, or <c>skipped</c> (a streaming body, which mirroring would have to wait for).</param>
    public void RecordMirror(string service, string result) =>
        _mirrors.Add(1, new KeyValuePair<string, object?>("destination_service", service), new KeyValuePair<string, object?>("result", result));

    public void Dispose() => _meter.Dispose();

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
