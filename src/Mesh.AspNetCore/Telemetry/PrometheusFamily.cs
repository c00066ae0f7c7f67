using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// One instrument's series, keyed by label set. The measurement path finds its series by an order-independent hash of
/// the tags and compares the tags; it takes no lock: a new series is published with a compare-and-swap, and values are
/// updated with interlocked operations (doubles as their 64-bit patterns).
/// </summary>
internal sealed class PrometheusFamily
{
    private readonly ConcurrentDictionary<int, PrometheusSeries> _series = new();
    private readonly int _maxSeries;
    private int _count;
    private long _dropped;

    public PrometheusFamily(Instrument instrument, PrometheusKind kind, double[] bounds, int maxSeries)
    {
        Instrument = instrument;
        Kind = kind;
        Bounds = bounds;
        _maxSeries = maxSeries;
        Name = PrometheusNaming.MetricName(instrument, kind is PrometheusKind.Counter or PrometheusKind.ObservedCounter);
        Help = PrometheusNaming.EscapeHelp(string.IsNullOrEmpty(instrument.Description) ? instrument.Name : instrument.Description);
    }

    public Instrument Instrument { get; }

    public PrometheusKind Kind { get; }

    public string Name { get; }

    public string Help { get; }

    public double[] Bounds { get; }

    public long Dropped => Interlocked.Read(ref _dropped);

    public string TypeText => Kind switch
    {
        PrometheusKind.Counter or PrometheusKind.ObservedCounter => "counter",
        PrometheusKind.Histogram => "histogram",
        _ => "gauge",
    };

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, long generation)
    {
        var series = Find(tags);
        if (series is null)
        {
            return;
        }

        switch (Kind)
        {
            case PrometheusKind.Counter:
            case PrometheusKind.UpDownCounter:
                series.Add(value);
                break;
            case PrometheusKind.Histogram:
                series.Observe(value, Bounds);
                break;
            default:
                series.Set(value);
                break;
        }

        series.Generation = generation;
    }

    /// <summary>The series to export: every one, or for observed instruments those seen in this collection.</summary>
    public List<PrometheusSeries> Snapshot(long generation)
    {
        var list = new List<PrometheusSeries>(_series.Count);
        foreach (var head in _series.Values)
        {
            for (var s = head; s is not null; s = s.Next)
            {
                if (Kind is PrometheusKind.ObservedCounter or PrometheusKind.ObservedGauge && s.Generation != generation)
                {
                    continue; // not observed this time: the thing it described is gone
                }

                list.Add(s);
            }
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.LabelText, b.LabelText));
        return list;
    }

    private PrometheusSeries? Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Values only, summed: the same set in any order hashes alike, and the keys (nearly always the same literals)
        // are left to Matches, which sorts out the rare collision.
        var hash = 0;
        foreach (var tag in tags)
        {
            hash += (tag.Value as string ?? ValueText(tag.Value)).GetHashCode(StringComparison.Ordinal);
        }

        if (_series.TryGetValue(hash, out var head))
        {
            var last = head;
            for (var s = head; s is not null; s = s.Next)
            {
                if (s.Matches(tags))
                {
                    return s;
                }

                last = s;
            }

            return Append(last, tags);
        }

        var created = Create(tags);
        if (created is null)
        {
            return null;
        }

        if (_series.TryAdd(hash, created))
        {
            return created;
        }

        // Another thread published this hash first: join its chain.
        Interlocked.Decrement(ref _count);
        return Find(tags);
    }

    private PrometheusSeries? Append(PrometheusSeries last, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var created = Create(tags);
        if (created is null)
        {
            return null;
        }

        while (true)
        {
            var next = Interlocked.CompareExchange(ref last.Next, created, null);
            if (next is null)
            {
                return created;
            }

            if (next.Matches(tags))
            {
                Interlocked.Decrement(ref _count);
                return next;
            }

            last = next;
        }
    }

    private PrometheusSeries? Create(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (Interlocked.Increment(ref _count) > _maxSeries)
        {
            Interlocked.Decrement(ref _count);
            Interlocked.Increment(ref _dropped);
            return null;
        }

        return new PrometheusSeries(tags, Kind == PrometheusKind.Histogram ? Bounds.Length + 1 : 0);
    }

    internal static string ValueText(object? value) => value switch
    {
        null => string.Empty,
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };
}
