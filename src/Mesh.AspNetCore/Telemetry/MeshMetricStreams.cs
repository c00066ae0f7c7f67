using System.Diagnostics.Metrics;
using Mesh.Client.Hosting;
using OpenTelemetry.Metrics;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// The view the mesh puts on the app's meter provider. OpenTelemetry picks meters by name, and every app in the process
/// makes meters of the same names through its own <see cref="IMeterFactory"/> (the Bookinfo demo and the tests run
/// several apps in one process): an instrument whose meter another container's factory made belongs to that app's
/// provider and is dropped here. The exported meters keep the documented histogram buckets and a bounded number of
/// label sets per metric; beyond it OpenTelemetry folds measurements into one <c>otel_metric_overflow="true"</c> series.
/// </summary>
internal sealed class MeshMetricStreams(IMeterFactory meterFactory, IEnumerable<string> exportedMeters, int maxSeriesPerMetric)
{
    private readonly HashSet<string> _exported = new(exportedMeters, StringComparer.Ordinal);

    public MetricStreamConfiguration? Configure(Instrument instrument)
    {
        var scope = instrument.Meter.Scope;
        if (scope is not null && !ReferenceEquals(scope, meterFactory))
        {
            return MetricStreamConfiguration.Drop;
        }

        if (!_exported.Contains(instrument.Meter.Name))
        {
            return null; // the app's own meters: its own views, or OpenTelemetry's defaults
        }

        if (BoundsOf(instrument) is { } bounds)
        {
            return new ExplicitBucketHistogramConfiguration { Boundaries = bounds, CardinalityLimit = maxSeriesPerMetric };
        }

        return new MetricStreamConfiguration { CardinalityLimit = maxSeriesPerMetric };
    }

    /// <summary>The buckets a histogram advises, or the mesh's duration buckets; null for other instruments.</summary>
    private static double[]? BoundsOf(Instrument instrument)
    {
        double[]? advised = instrument switch
        {
            Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.ToArray(),
            Histogram<float> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<short> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<byte> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<decimal> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            _ when instrument.GetType() is { IsGenericType: true } t && t.GetGenericTypeDefinition() == typeof(Histogram<>) => [],
            _ => null,
        };
        if (advised is null)
        {
            return null;
        }

        // OpenTelemetry refuses unsorted or repeated boundaries; a histogram that advises none gets the mesh's durations.
        return advised.Length > 0 ? [.. advised.Distinct().Order()] : [.. MeshInbound.DurationBuckets];
    }
}
