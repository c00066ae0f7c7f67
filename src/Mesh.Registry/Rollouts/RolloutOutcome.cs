namespace Mesh.Registry.Rollouts;

/// <summary>What a request to the engine came to: the rollout as it is after it, or why nothing was done.</summary>
internal sealed record RolloutOutcome(RolloutStatus? Rollout, RolloutRefusal Refusal = RolloutRefusal.None, string? Detail = null);
