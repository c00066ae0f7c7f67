using System.Text.Json.Serialization;

namespace Mesh.Registry.Rollouts;

/// <summary>Where a rollout is. Only <see cref="Progressing"/> moves on its own; the last three are final.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RolloutState>))]
internal enum RolloutState
{
    /// <summary>A step's weights are set and its window is being judged.</summary>
    Progressing,

    /// <summary>Held at its step by an operator or by a policy write to its route; <c>resume</c> restarts the step.</summary>
    Paused,

    /// <summary>Every step passed (or an operator promoted it): the route sends to the canary only.</summary>
    Succeeded,

    /// <summary>A step failed its analysis: the route sends to the stable subset only.</summary>
    RolledBack,

    /// <summary>An operator aborted it: the route sends to the stable subset only.</summary>
    Aborted,
}
