using System.Text.Json.Serialization;

namespace Mesh.Registry.Rollouts;

/// <summary>
/// A service's rollout: what was asked, where it is, and every decision on the way. This is both the body of
/// <c>GET /v1/rollouts/{service}</c> and what the store keeps, so a restarted registry (or another replica) carries on
/// from it.
/// </summary>
internal sealed class RolloutStatus
{
    /// <summary>Decisions kept; beyond it the oldest go (a rollout paused and resumed without end stays bounded).</summary>
    public const int MaxDecisions = 200;

    public string Service { get; set; } = string.Empty;

    public RolloutSpec Spec { get; set; } = new();

    /// <summary>The <c>version</c> label of the stable subset: the traffic the instances report is counted by it.</summary>
    public string StableVersion { get; set; } = string.Empty;

    public string CanaryVersion { get; set; } = string.Empty;

    public RolloutState State { get; set; }

    /// <summary>The current (or last) step, 1-based.</summary>
    public int Step { get; set; }

    /// <summary>The canary's weight the route has (or, while <see cref="PolicyVersion"/> is null, is about to get).</summary>
    public int Weight { get; set; }

    public DateTimeOffset StartedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>When the current step's window began.</summary>
    public DateTimeOffset StepStartedAt { get; set; }

    /// <summary>Intervals of the current step already judged as too thin (<see cref="RolloutVerdict.Waiting"/>).</summary>
    public int Waits { get; set; }

    /// <summary>
    /// The policy version holding the weights the rollout last set; null while they are still to be written (the state
    /// is stored first, so a registry that stops between the two writes the weights when it starts again).
    /// </summary>
    public long? PolicyVersion { get; set; }

    /// <summary>The stable subset's p99 from the last window that had stable traffic, for a step at 100% canary.</summary>
    public double? StableP99BaselineMs { get; set; }

    public List<RolloutDecision> Decisions { get; set; } = [];

    /// <summary>
    /// The running step's traffic so far, in <c>GET</c> answers only (never stored): null when the answering registry
    /// has no open window for it (paused, finished, or a replica that does not drive rollouts).
    /// </summary>
    public RolloutWindowReading? Window { get; set; }

    [JsonIgnore]
    public bool IsFinal => State is RolloutState.Succeeded or RolloutState.RolledBack or RolloutState.Aborted;

    public void Add(RolloutDecision decision)
    {
        Decisions.Add(decision);
        if (Decisions.Count > MaxDecisions)
        {
            Decisions.RemoveRange(0, Decisions.Count - MaxDecisions);
        }
    }
}
