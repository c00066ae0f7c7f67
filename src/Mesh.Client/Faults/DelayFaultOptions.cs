namespace Mesh.Client;

/// <summary>An injected delay.</summary>
public sealed class DelayFaultOptions
{
    /// <summary>The share of attempts delayed, 0 to 100.</summary>
    public double Percentage { get; set; }

    /// <summary>How long each delayed attempt waits before it is sent.</summary>
    public TimeSpan FixedDelay { get; set; }
}
