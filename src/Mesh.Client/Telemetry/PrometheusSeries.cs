using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Mesh.Client.Telemetry;

/// <summary>How an instrument's measurements become a Prometheus metric.</summary>
internal enum PrometheusKind
{
    /// <summary>Counter: measurements are increments, exported as a counter.</summary>
    Counter,

    /// <summary>UpDownCounter: increments, exported as a gauge.</summary>
    UpDownCounter,

    /// <summary>Observable counter: each observation is the running total.</summary>
    ObservedCounter,

    /// <summary>Observable gauge or observable up-down counter: each measurement is the current value.</summary>
    ObservedGauge,

    /// <summary>Gauge: each measurement is the current value, kept until the next.</summary>
    Gauge,

    /// <summary>Histogram: cumulative buckets, sum and count.</summary>
    Histogram,
}

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

/// <summary>One label set of one metric and its value (or histogram buckets).</summary>
internal sealed class PrometheusSeries
{
    private readonly string[] _keys;
    private readonly string[] _values;
    private readonly long[]? _buckets;
    private long _valueBits;
    private long _sumBits;

    public PrometheusSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags, int buckets)
    {
        _keys = new string[tags.Length];
        _values = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            _keys[i] = tags[i].Key;
            _values[i] = PrometheusFamily.ValueText(tags[i].Value);
        }

        _buckets = buckets > 0 ? new long[buckets] : null;
        LabelText = BuildLabelText();
    }

    /// <summary>A chain of series whose tag hashes collide.</summary>
    public PrometheusSeries? Next;

    /// <summary>The collection that last observed it (observed instruments).</summary>
    public long Generation { get; set; }

    /// <summary><c>a="x",b="y"</c>: sorted by label name, values escaped; empty without labels.</summary>
    public string LabelText { get; }

    public double Value => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _valueBits));

    public double Sum => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _sumBits));

    public long Bucket(int index) => Interlocked.Read(ref _buckets![index]);

    public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length != _keys.Length)
        {
            return false;
        }

        for (var t = 0; t < tags.Length; t++)
        {
            var tag = tags[t];
            var value = tag.Value as string ?? PrometheusFamily.ValueText(tag.Value);

            // Call sites pass their tags in the same order every time: the same position is nearly always the one.
            if (string.Equals(_keys[t], tag.Key, StringComparison.Ordinal))
            {
                if (!string.Equals(_values[t], value, StringComparison.Ordinal))
                {
                    return false;
                }

                continue;
            }

            var found = false;
            for (var i = 0; i < _keys.Length; i++)
            {
                if (string.Equals(_keys[i], tag.Key, StringComparison.Ordinal))
                {
                    found = string.Equals(_values[i], value, StringComparison.Ordinal);
                    break;
                }
            }

            if (!found)
            {
                return false;
            }
        }

        return true;
    }

    public void Add(double delta) => AddBits(ref _valueBits, delta);

    public void Set(double value) => Interlocked.Exchange(ref _valueBits, BitConverter.DoubleToInt64Bits(value));

    public void Observe(double value, double[] bounds)
    {
        var i = 0;
        while (i < bounds.Length && value > bounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref _buckets![i]);
        AddBits(ref _sumBits, value);
    }

    private static void AddBits(ref long bits, double delta)
    {
        var current = Interlocked.Read(ref bits);
        while (true)
        {
            var next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(current) + delta);
            var seen = Interlocked.CompareExchange(ref bits, next, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    private string BuildLabelText()
    {
        // Sorted by exported name, and a name given twice (two keys that sanitise alike) kept once: a series never
        // carries a label twice.
        var pairs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < _keys.Length; i++)
        {
            var name = PrometheusNaming.LabelName(_keys[i]);
            if (name == "le" || name.StartsWith("__", StringComparison.Ordinal))
            {
                name = "tag_" + name; // reserved by Prometheus
            }

            pairs.TryAdd(name, _values[i]);
        }

        var sb = new StringBuilder();
        foreach (var (name, value) in pairs)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(name).Append("=\"");
            PrometheusNaming.AppendLabelValue(sb, value);
            sb.Append('"');
        }

        return sb.ToString();
    }
}
