namespace Mesh.Registry.Rollouts;

/// <summary>The current step's window so far, as the registry that answers has counted it (for a live view).</summary>
internal sealed class RolloutWindowReading
{
    /// <summary>When the window began (the step's start, or its restart).</summary>
    public DateTimeOffset Since { get; set; }

    public RolloutTraffic Canary { get; set; } = new();

    public RolloutTraffic Stable { get; set; } = new();
}
