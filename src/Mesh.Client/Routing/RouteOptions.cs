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

    /// <summary>Faults to inject for testing resilience.</summary>
    public FaultOptions? Fault { get; set; }

    /// <summary>Copy a share of the traffic to another subset, fire and forget.</summary>
    public MirrorOptions? Mirror { get; set; }
}

/// <summary>Conditions a request must meet, all of them, for a route to take it.</summary>
public sealed class RouteMatchOptions
{
    /// <summary>Request headers that must be present with exactly these values.</summary>
    public IDictionary<string, string> Headers { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The path must equal this.</summary>
    public string? Path { get; set; }

    /// <summary>The path must start with this (a plain string prefix, as in Istio).</summary>
    public string? PathPrefix { get; set; }

    /// <summary>The method must be one of these; empty matches every method.</summary>
    public IList<string> Methods { get; set; } = new List<string>();
}

/// <summary>A weighted destination of a route.</summary>
public sealed class RouteDestinationOptions
{
    /// <summary>The subset to send to; unset means every endpoint of the service.</summary>
    public string? Subset { get; set; }

    /// <summary>The share of the route's traffic, 0 to 100; the weights of a route sum to 100.</summary>
    public int Weight { get; set; } = 100;
}

/// <summary>Traffic mirroring: a copy of a share of requests goes to another subset; its response is discarded.</summary>
public sealed class MirrorOptions
{
    /// <summary>The subset that receives the copies.</summary>
    public string? Subset { get; set; }

    /// <summary>The share of requests mirrored, 0 to 100.</summary>
    public double Percentage { get; set; } = 100;
}
