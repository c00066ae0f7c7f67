namespace Mesh.Registry.Rollouts;

/// <summary>One subset's traffic over a step's window, summed from every caller's renewals.</summary>
internal sealed class RolloutTraffic
{
    public long Requests { get; set; }

    public long Errors { get; set; }

    /// <summary>Percent of the requests that succeeded; null without requests.</summary>
    public double? SuccessRate { get; set; }

    /// <summary>The callers' reported p99s weighted by their requests (see <c>RolloutTrafficWindows</c>); null without requests.</summary>
    public double? P99Ms { get; set; }
}
