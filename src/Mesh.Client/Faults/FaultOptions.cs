namespace Mesh.Client;

/// <summary>Faults a route injects, per attempt, into the requests it matches.</summary>
public sealed class FaultOptions
{
    /// <summary>Delay a share of attempts.</summary>
    public DelayFaultOptions? Delay { get; set; }

    /// <summary>Answer a share of attempts with an error without calling the backend.</summary>
    public AbortFaultOptions? Abort { get; set; }
}
