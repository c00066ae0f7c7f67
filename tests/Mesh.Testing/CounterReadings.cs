using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Testing;

/// <summary>
/// Sums and counts of a package <see cref="MetricCollector{T}"/>'s measurements, filtered on their tags as text: some
/// tag values are booleans (dry_run), and tests compare every value as /metrics shows it.
/// </summary>
public static class CounterReadings
{
    public static long Sum(this MetricCollector<long> collector, Func<Dictionary<string, string?>, bool>? where = null) =>
        Matching(collector, where).Sum(m => m.Value);

    public static int Count(this MetricCollector<long> collector, Func<Dictionary<string, string?>, bool>? where = null) =>
        Matching(collector, where).Count();

    /// <summary>The last matching measurement's value, or null: a gauge's reading after RecordObservableInstruments.</summary>
    public static long? Last(this MetricCollector<long> collector, Func<Dictionary<string, string?>, bool>? where = null) =>
        Matching(collector, where).Select(m => (long?)m.Value).LastOrDefault();

    private static IEnumerable<CollectedMeasurement<long>> Matching(MetricCollector<long> collector, Func<Dictionary<string, string?>, bool>? where) =>
        collector.GetMeasurementSnapshot().Where(m => where is null || where(Text(m.Tags)));

    private static Dictionary<string, string?> Text(IReadOnlyDictionary<string, object?> tags)
    {
        var text = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            text[tag.Key] = tag.Value?.ToString();
        }

        return text;
    }
}
