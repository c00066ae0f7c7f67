using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Mesh.Testing;

/// <summary>Listens to one meter of one service provider and keeps every measurement with its tags.</summary>
public sealed class MetricCollector : IDisposable
{
    private readonly MeterListener _listener = new();

    public MetricCollector(Func<Meter, bool> meterFilter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (meterFilter(instrument.Meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    public ConcurrentQueue<(string Instrument, double Value, Dictionary<string, string?> Tags)> Measurements { get; } = new();

    public double Sum(string instrument, Func<Dictionary<string, string?>, bool>? where = null) =>
        Measurements.Where(m => m.Instrument == instrument && (where is null || where(m.Tags))).Sum(m => m.Value);

    public int Count(string instrument, Func<Dictionary<string, string?>, bool>? where = null) =>
        Measurements.Count(m => m.Instrument == instrument && (where is null || where(m.Tags)));

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var dict = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var t in tags)
        {
            dict[t.Key] = t.Value?.ToString();
        }

        Measurements.Enqueue((instrument.Name, value, dict));
    }

    /// <summary>Takes a reading of every observable instrument (gauges) now.</summary>
    public void Collect() => _listener.RecordObservableInstruments();

    public void Dispose() => _listener.Dispose();
}
