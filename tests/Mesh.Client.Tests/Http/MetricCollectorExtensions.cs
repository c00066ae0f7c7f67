using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests.Http;

internal static class MetricCollectorExtensions
{
    /// <summary>The sum of every measurement recorded so far.</summary>
    public static long Sum(this MetricCollector<long> collector)
    {
        var sum = 0L;
        foreach (var measurement in collector.GetMeasurementSnapshot())
        {
            sum += measurement.Value;
        }

        return sum;
    }
}
