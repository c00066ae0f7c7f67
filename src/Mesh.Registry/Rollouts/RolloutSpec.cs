namespace Mesh.Registry.Rollouts;

/// <summary>
/// What <c>PUT /v1/rollouts/{service}</c> asks for: move <see cref="Route"/> of the service's policy from
/// <see cref="Stable"/> to <see cref="Canary"/> through the canary weights in <see cref="Steps"/>, judging each step
/// over <see cref="StepInterval"/> by <see cref="Analysis"/>.
/// </summary>
internal sealed class RolloutSpec
{
    public string Route { get; set; } = string.Empty;

    public string Stable { get; set; } = string.Empty;

    public string Canary { get; set; } = string.Empty;

    /// <summary>The canary's weight at each step, ascending, each from 1 to 100, the last 100.</summary>
    public List<int> Steps { get; set; } = [];

    public TimeSpan StepInterval { get; set; }

    public RolloutAnalysis Analysis { get; set; } = new();
}
