namespace Mesh.Registry.Rollouts;

/// <summary>The bounds a step's window is judged by; a bound left null is not checked.</summary>
internal sealed class RolloutAnalysis
{
    /// <summary>The least share of the canary's requests that must succeed (not a 5xx, not without response), percent.</summary>
    public double MinSuccessRate { get; set; } = 99.0;

    /// <summary>The highest p99 latency the canary may show, in milliseconds.</summary>
    public double? MaxP99Ms { get; set; }

    /// <summary>The highest the canary's p99 may be as a multiple of the stable subset's over the same window.</summary>
    public double? MaxP99Ratio { get; set; }

    /// <summary>The canary requests a window needs before it is judged.</summary>
    public long MinRequests { get; set; } = 100;
}
