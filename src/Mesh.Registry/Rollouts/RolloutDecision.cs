namespace Mesh.Registry.Rollouts;

/// <summary>One entry of a rollout's decision log: when, at which step and canary weight, on what numbers, and why.</summary>
internal sealed class RolloutDecision
{
    public DateTimeOffset At { get; set; }

    /// <summary>The step (1-based) the rollout was at.</summary>
    public int Step { get; set; }

    /// <summary>The canary's weight at that step.</summary>
    public int Weight { get; set; }

    /// <summary>The canary's traffic over the window judged; null for an operator's act.</summary>
    public RolloutTraffic? Canary { get; set; }

    public RolloutTraffic? Stable { get; set; }

    public RolloutVerdict Verdict { get; set; }

    public string Reason { get; set; } = string.Empty;
}
