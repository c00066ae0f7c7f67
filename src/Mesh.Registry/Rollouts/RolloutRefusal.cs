namespace Mesh.Registry.Rollouts;

internal enum RolloutRefusal
{
    None,

    /// <summary>The service has no rollout.</summary>
    NotFound,

    /// <summary>The rollout's state does not allow it (a second start while one runs; resuming one not paused).</summary>
    Conflict,

    /// <summary>The spec does not fit the service's policy; the details are in the errors.</summary>
    Invalid,
}
