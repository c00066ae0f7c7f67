using Mesh.Client.Registry;

namespace Mesh.Registry.Rollouts;

/// <summary>
/// The traffic to one service's stable and canary versions since a step began, summed over every renewal that
/// arrived since. Renewals come every few seconds per caller, never on a request's path, so a lock is cheap here.
/// </summary>
internal sealed class RolloutTrafficWindow(long id, string stableVersion, string canaryVersion)
{
    private readonly Lock _lock = new();
    private readonly Sum _stable = new();
    private readonly Sum _canary = new();

    /// <summary>Which window this is: the step's start, in ticks, so a window left from an earlier step is never read for a later one.</summary>
    public long Id { get; } = id;

    public void Add(DestinationStats d)
    {
        var sum = string.Equals(d.Version, canaryVersion, StringComparison.Ordinal) ? _canary
            : string.Equals(d.Version, stableVersion, StringComparison.Ordinal) ? _stable : null;
        if (sum is null || d.Requests <= 0)
        {
            return;
        }

        lock (_lock)
        {
            sum.Requests = SaturatingAdd(sum.Requests, d.Requests);
            sum.Errors = SaturatingAdd(sum.Errors, Math.Clamp(d.Errors, 0, d.Requests));
            if (d.P99Ms is { } p99 && double.IsFinite(p99) && p99 >= 0)
            {
                // Past what the weight holds, a report weighs only what is left, so the mean stays a mean.
                var weight = Math.Min(d.Requests, long.MaxValue - sum.P99Weight);
                sum.P99Sum += p99 * weight;
                sum.P99Weight += weight;
            }
        }
    }

    public (RolloutTraffic Stable, RolloutTraffic Canary) Read()
    {
        lock (_lock)
        {
            return (_stable.ToTraffic(), _canary.ToTraffic());
        }
    }

    /// <summary>
    /// A sum that stops at <see cref="long.MaxValue"/>: a report may claim a trillion requests, so a caller sending
    /// millions of them would otherwise wrap the window's counts negative. Both terms are never negative.
    /// </summary>
    private static long SaturatingAdd(long sum, long add) => sum > long.MaxValue - add ? long.MaxValue : sum + add;

    private sealed class Sum
    {
        public long Requests;
        public long Errors;
        public double P99Sum;
        public long P99Weight;

        public RolloutTraffic ToTraffic() => new()
        {
            Requests = Requests,
            Errors = Errors,
            SuccessRate = Requests == 0 ? null : Math.Round(100.0 * (Requests - Errors) / Requests, 3),
            P99Ms = P99Weight == 0 ? null : Math.Round(P99Sum / P99Weight, 3),
        };
    }
}
