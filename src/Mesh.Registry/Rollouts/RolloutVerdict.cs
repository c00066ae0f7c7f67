using System.Text.Json.Serialization;

namespace Mesh.Registry.Rollouts;

/// <summary>What a decision in a rollout's log was: a step's analysis, or an operator's or a policy writer's act.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RolloutVerdict>))]
internal enum RolloutVerdict
{
    /// <summary>The rollout began at its first step.</summary>
    Started,

    /// <summary>The step's window met every bound: on to the next step, or promoted after the last.</summary>
    Passed,

    /// <summary>The step's window broke a bound, or had too few requests for too long: rolled back.</summary>
    Failed,

    /// <summary>Too few requests to the canary to judge yet: the window goes on for another interval.</summary>
    Waiting,

    Paused,

    Resumed,

    Aborted,

    Promoted,
}
