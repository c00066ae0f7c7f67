namespace Mesh.Client;

/// <summary>An injected delay.</summary>
public sealed class DelayFaultOptions
{
    /// <summary>The share of requests delayed, 0 to 100: of attempts when the fault is <see cref="FaultOptions.PerAttempt"/>.</summary>
    public double Percentage { get; set; }

    /// <summary>How long a delayed request (or attempt) waits before it is sent; the call's deadline counts the wait.</summary>
    public TimeSpan FixedDelay { get; set; }
}
