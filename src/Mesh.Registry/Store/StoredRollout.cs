namespace Mesh.Registry.Store;

/// <summary>
/// A service's rollout as the store keeps it: its JSON (see <c>Rollouts/RolloutStatus</c>) and the revision a writer
/// must name to replace it, so that of two writers that read the same revision exactly one succeeds.
/// </summary>
internal sealed record StoredRollout(string Service, string Document, long Revision);
