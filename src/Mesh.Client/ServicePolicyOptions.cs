namespace Mesh.Client;

/// <summary>
/// A destination service's policy: where it runs (when not discovered from the registry) and how to call it.
/// In the registry a service's policy document is exactly this shape without <see cref="Endpoints"/>.
/// </summary>
public sealed class ServicePolicyOptions
{
    /// <summary>Static endpoints; the registry's instances take precedence when it has any.</summary>
    public IList<EndpointOptions> Endpoints { get; set; } = new List<EndpointOptions>();

    /// <summary>Named subsets of the service's endpoints, each a label selector: every label must match.</summary>
    public IDictionary<string, IDictionary<string, string>> Subsets { get; set; } =
        new Dictionary<string, IDictionary<string, string>>(StringComparer.OrdinalIgnoreCase);

    /// <summary>How endpoints are chosen.</summary>
    public LoadBalancerOptions LoadBalancer { get; set; } = new();

    /// <summary>Routes, tried in order; the first match wins. None means one route to every endpoint.</summary>
    public IList<RouteOptions> Routes { get; set; } = new List<RouteOptions>();

    /// <summary>Ejection of endpoints that keep failing.</summary>
    public OutlierDetectionOptions OutlierDetection { get; set; } = new();

    /// <summary>The cap on retries to this service as a share of its requests.</summary>
    public RetryBudgetOptions RetryBudget { get; set; } = new();

    /// <summary>The per-endpoint circuit breaker.</summary>
    public CircuitBreakerOptions CircuitBreaker { get; set; } = new();

    /// <summary>Overflow limits on the calls this process makes to the service at once.</summary>
    public ConnectionPoolOptions ConnectionPool { get; set; } = new();

    /// <summary>
    /// Inbound authorization rules of this service, applied by its own instances together with their
    /// <c>Mesh:Authorization</c> rules: how a registry policy says who may call the service.
    /// </summary>
    public IList<AuthorizationRuleOptions> Authorization { get; set; } = new List<AuthorizationRuleOptions>();

    /// <summary>
    /// Inbound rate limits of this service, applied by its own instances together with their <c>Mesh:RateLimits</c>
    /// rules: how a registry policy limits the service's callers.
    /// </summary>
    public IList<RateLimitRuleOptions> RateLimits { get; set; } = new List<RateLimitRuleOptions>();
}
