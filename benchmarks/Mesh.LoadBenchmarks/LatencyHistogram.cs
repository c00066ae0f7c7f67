using System.Numerics;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// A log-linear latency histogram in nanoseconds: exact below 512 ns, above that 256 buckets per power of two, so a
/// percentile (a bucket's middle) is within 1/512 (0.2 %) of a recorded value: 2 µs at the 1 ms of a loaded cell.
/// Fewer would blur the targets: with 64 buckets per power of two (within 0.8 %) every added latency there would be
/// a multiple of 8 µs, a third of the 25 µs target. Values up to 2^41 ns (36 minutes) have their own bucket, longer
/// ones share the last. One per worker, merged at the end: recording takes no lock. 68 KB, below the large object heap.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 9;
    private const int SubBuckets = 1 << SubBucketBits;
    private const int HalfSubBuckets = SubBuckets / 2;
    private const int Shifts = 32;
    private const long Largest = (1L << (SubBucketBits + Shifts)) - 1;
    private readonly long[] _counts = new long[SubBuckets + (Shifts * HalfSubBuckets)];

    public long Count { get; private set; }

    public long Max { get; private set; }

    public void Record(long nanoseconds)
    {
        if (nanoseconds < 0)
        {
            nanoseconds = 0;
        }

        _counts[Index(nanoseconds)]++;
        Count++;
        if (nanoseconds > Max)
        {
            Max = nanoseconds;
        }
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>The value at percentile <paramref name="percentile"/> (0–100), in nanoseconds; 0 when empty.</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(percentile / 100.0 * Count));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(Middle(i), Max);
            }
        }

        return Max;
    }

    internal static int Index(long value)
    {
        if (value < SubBuckets)
        {
            return (int)value;
        }

        value = Math.Min(value, Largest);

        var msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        var shift = msb - (SubBucketBits - 1);
        var top = value >> shift; // HalfSubBuckets..SubBuckets - 1
        return SubBuckets + ((shift - 1) * HalfSubBuckets) + (int)(top - HalfSubBuckets);
    }

    internal static long Middle(int index)
    {
        if (index < SubBuckets)
        {
            return index;
        }

        var shift = ((index - SubBuckets) / HalfSubBuckets) + 1;
        long top = ((index - SubBuckets) % HalfSubBuckets) + HalfSubBuckets;
        return (top << shift) + ((1L << shift) >> 1);
    }
}
