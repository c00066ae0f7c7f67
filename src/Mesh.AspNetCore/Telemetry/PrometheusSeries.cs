using System.Text;

namespace Mesh.AspNetCore.Telemetry;

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
