namespace Mesh.Client;

/// <summary>The circuit breaker each endpoint has per client.</summary>
public sealed class CircuitBreakerOptions
{
    /// <summary>Whether the breaker is on. True by default.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The failure share over <see cref="SamplingDuration"/> that opens the circuit, 0 to 1. 0.5 by default.</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>The attempts needed in a sampling window before the ratio counts. 20 by default.</summary>
    public int MinimumThroughput { get; set; } = 20;

    /// <summary>The window failures are counted over. 10 s by default.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an open circuit rejects attempts before it lets one through. 5 s by default.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}
