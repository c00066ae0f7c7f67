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
    /// <c>resource-exhausted</c>, <c>internal</c>, or status codes such as <c>503</c>. Empty: the default conditions
    /// (<c>connect-failure</c>, <c>refused-stream</c>, <c>unavailable</c>, <c>cancelled</c>, <c>503</c>).
    /// </summary>
    public IList<string> RetryOn { get; set; } = new List<string>();

    /// <summary>
    /// Retry non-idempotent methods (POST, PATCH) too. Off by default: a retried POST may run twice. gRPC calls are
    /// retried by their conditions whatever this says, as long as their request body can be sent again.
    /// </summary>
    public bool RetryNonIdempotent { get; set; }

    /// <summary>The first backoff's upper bound; each retry doubles it (full jitter). 25 ms by default.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(25);

    /// <summary>The largest backoff. 250 ms by default.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMilliseconds(250);
}
