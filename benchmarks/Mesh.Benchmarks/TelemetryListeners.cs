using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Mesh.Benchmarks;

/// <summary>
/// Turns the mesh's telemetry on the way an exporter (OpenTelemetry SDK, dotnet-counters) would: a
/// <see cref="MeterListener"/> enabling every instrument of the <c>Mesh.Client</c> meter and an
/// <see cref="ActivityListener"/> sampling every <c>Mesh.Client</c> span. The callbacks only count, so the
/// measured cost is the mesh's, not an exporter's.
/// </summary>
public sealed class TelemetryListeners : IDisposable
{
    private readonly MeterListener _meters = new();
    private readonly ActivityListener _activities;
    private long _measurements;
    private long _spans;

    public TelemetryListeners()
    {
        _meters.InstrumentPublished = static (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Mesh.Client")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<long>((_, _, _, _) => _measurements++);
        _meters.SetMeasurementEventCallback<double>((_, _, _, _) => _measurements++);
        _meters.Start();

        _activities = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == "Mesh.Client",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _ => _spans++,
        };
        ActivitySource.AddActivityListener(_activities);
    }

    public long Measurements => _measurements;

    public long Spans => _spans;

    public void Dispose()
    {
        _meters.Dispose();
        _activities.Dispose();
    }
}
