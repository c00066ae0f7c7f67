namespace Mesh.LoadBenchmarks.Tests;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Percentiles_are_within_a_fifth_of_a_percent_of_the_exact_ones()
    {
        // Log-uniform from 1 ns to 10 s: every range of buckets, the exact ones below 512 ns included.
        var random = new Random(20261201);
        var values = new long[200_000];
        var histogram = new LatencyHistogram();
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (long)Math.Pow(10, random.NextDouble() * 10);
            histogram.Record(values[i]);
        }

        Array.Sort(values);
        foreach (var percentile in new[] { 0.1, 1, 10, 50, 90, 99, 99.9, 100 })
        {
            var exact = values[Math.Max(1, (long)Math.Ceiling(percentile / 100 * values.Length)) - 1];
            var measured = histogram.Percentile(percentile);
            ((double)Math.Abs(measured - exact)).ShouldBeLessThanOrEqualTo(exact / 512.0, $"p{percentile}: {measured} for {exact}");
        }

        histogram.Count.ShouldBe(values.Length);
        histogram.Max.ShouldBe(values[^1]);
    }

    [Fact]
    public void Values_below_512_ns_are_exact_and_a_bucket_holds_only_neighbours()
    {
        for (long value = 0; value < 512; value++)
        {
            LatencyHistogram.Middle(LatencyHistogram.Index(value)).ShouldBe(value);
        }

        // Every bucket's middle maps back to that bucket, and buckets grow with the value.
        var previous = -1;
        for (long value = 1; value < 1L << 41; value += Math.Max(1, value / 300))
        {
            var index = LatencyHistogram.Index(value);
            index.ShouldBeGreaterThanOrEqualTo(previous);
            LatencyHistogram.Index(LatencyHistogram.Middle(index)).ShouldBe(index);
            previous = index;
        }
    }

    [Fact]
    public void A_value_beyond_the_range_lands_in_the_last_bucket_and_keeps_its_maximum()
    {
        var histogram = new LatencyHistogram();
        histogram.Record(long.MaxValue);
        histogram.Record(-5); // a clock that went backwards counts as 0

        histogram.Count.ShouldBe(2);
        histogram.Max.ShouldBe(long.MaxValue);
        histogram.Percentile(50).ShouldBe(0);
        histogram.Percentile(100).ShouldBeGreaterThan(1L << 40);
    }

    [Fact]
    public void Merged_workers_give_the_percentiles_of_all_their_values()
    {
        var random = new Random(7);
        var all = new LatencyHistogram();
        var merged = new LatencyHistogram();
        for (var worker = 0; worker < 4; worker++)
        {
            var own = new LatencyHistogram();
            for (var i = 0; i < 10_000; i++)
            {
                var value = random.NextInt64(1_000, 5_000_000 * (worker + 1));
                own.Record(value);
                all.Record(value);
            }

            merged.Add(own);
        }

        merged.Count.ShouldBe(all.Count);
        merged.Max.ShouldBe(all.Max);
        foreach (var percentile in new[] { 1.0, 50, 90, 99, 100 })
        {
            merged.Percentile(percentile).ShouldBe(all.Percentile(percentile));
        }
    }
}
