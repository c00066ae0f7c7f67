namespace Mesh.Registry.Rollouts;

/// <summary>What an operator can do to a rollout: <c>POST /v1/rollouts/{service}/{command}</c>.</summary>
internal enum RolloutCommand
{
    Pause,
    Resume,
    Abort,
    Promote,
}
