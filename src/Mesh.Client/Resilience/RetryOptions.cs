namespace Mesh.Client;

/// <summary>How a route retries failed attempts.</summary>
public sealed class RetryOptions
{
    /// <summary>The number of retries: at most <c>1 + Attempts</c> requests. 0 turns retries off.</summary>
    public int Attempts { get; set; } = 2;

    /// <summary>The time one attempt may take. Unset means only the route's total timeout applies.</summary>
    public TimeSpan? PerTryTimeout { get; set; }

    /// <summary>
    /// The conditions that trigger a retry: <c>connect-failure</c>, <c>refused-stream</c>, <c>reset</c>, <c>5xx</c>,
    /// <c>gateway-error</c>, <c>retriable-4xx</c>, gRPC <c>unavailable</c>, <c>cancelled</c>, <c>deadline-exceeded</c>,
    /// <c>resource-exhausted</c>, or status codes such as <c>503</c>.
    /// </summary>
    public IList<string> RetryOn { get; set; } = new List<string>();

    /// <summary>Retry non-idempotent methods (POST, PATCH) too. Off by default: a retried POST may run twice.</summary>
    public bool RetryNonIdempotent { get; set; }

    /// <summary>The first backoff's upper bound; each retry doubles it (full jitter). 25 ms by default.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(25);

    /// <summary>The largest backoff. 250 ms by default.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// A retry budget: retries to a service may be at most <see cref="RetryRatio"/> of its requests plus
/// <see cref="MinRetriesPerSecond"/>, counted over the last <see cref="Ttl"/>.
/// </summary>
public sealed class RetryBudgetOptions
{
    /// <summary>Retries allowed per request, 0.2 by default.</summary>
    public double RetryRatio { get; set; } = 0.2;

    /// <summary>Retries allowed each second whatever the request rate, 10 by default.</summary>
    public int MinRetriesPerSecond { get; set; } = 10;

    /// <summary>The window requests and retries are counted over, 10 s by default.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(10);
}

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
