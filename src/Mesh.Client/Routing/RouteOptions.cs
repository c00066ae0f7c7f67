namespace Mesh.Client;

/// <summary>A route: which requests it takes, where it sends them and how.</summary>
public sealed class RouteOptions
{
    /// <summary>A name for telemetry (the <c>route</c> label); <c>route-&lt;index&gt;</c> when unset.</summary>
    public string? Name { get; set; }

    /// <summary>Which requests this route takes; unset matches every request.</summary>
    public RouteMatchOptions? Match { get; set; }

    /// <summary>Weighted destinations summing to 100; none sends to every endpoint of the service.</summary>
    public IList<RouteDestinationOptions> Destinations { get; set; } = new List<RouteDestinationOptions>();

    /// <summary>The total time a call may take, retries included. Unset means no mesh timeout.</summary>
    public TimeSpan? Timeout { get; set; }

    /// <summary>Retry policy; unset uses the mesh default (2 retries on connect-failure, refused-stream, unavailable, cancelled, 503).</summary>
    public RetryOptions? Retry { get; set; }

    /// <summary>
    /// Hedging for idempotent requests: more attempts in flight when the first is slow to answer. Unset means none.
    /// The hedged group is one attempt of <see cref="Retry"/>: when every hedge fails retriably, the route may retry.
    /// </summary>
    public HedgingOptions? Hedging { get; set; }

    /// <summary>Faults to inject for testing resilience.</summary>
    public FaultOptions? Fault { get; set; }

    /// <summary>Copy a share of the traffic to another subset, fire and forget.</summary>
    public MirrorOptions? Mirror { get; set; }
}
