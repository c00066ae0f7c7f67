using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Mesh.Benchmarks;

/// <summary>
/// Turns telemetry on the way an exporter (OpenTelemetry SDK, dotnet-counters) would: a <see cref="MeterListener"/>
/// enabling every instrument of the chosen meters and an <see cref="ActivityListener"/> sampling every span of the
/// chosen sources. The callbacks only count, so the measured cost is the instrumented stack's, not an exporter's.
/// </summary>
public sealed class TelemetryListeners : IDisposable
{
    private readonly MeterListener _meters = new();
    private readonly ActivityListener _activities;
    private long _measurements;
    private long _spans;

    /// <summary>The mesh's own meter and activity source.</summary>
    public TelemetryListeners()
        : this(static name => name == "Mesh.Client")
    {
    }

    /// <param name="listens">Whether a meter or activity source of this name is listened to.</param>
    /// <param name="spans">False: meters only, as a metrics exporter listens.</param>
    public TelemetryListeners(Func<string, bool> listens, bool spans = true)
    {
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (listens(instrument.Meter.Name))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<long>((_, _, _, _) => _measurements++);
        _meters.SetMeasurementEventCallback<int>((_, _, _, _) => _measurements++);
        _meters.SetMeasurementEventCallback<double>((_, _, _, _) => _measurements++);
        _meters.Start();

        _activities = new ActivityListener
        {
            ShouldListenTo = source => spans && listens(source.Name),
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _ => _spans++,
        };
        ActivitySource.AddActivityListener(_activities);
    }

    /// <summary>What the Aspire stack emits: HttpClient's, Polly's and the Microsoft.Extensions libraries' signals.</summary>
    public static bool AspireSources(string name) =>
        name == "System.Net.Http" || name.StartsWith("Polly", StringComparison.Ordinal) ||
        name.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal);

    public long Measurements => _measurements;

    public long Spans => _spans;

    public void Dispose()
    {
        _meters.Dispose();
        _activities.Dispose();
    }
}
