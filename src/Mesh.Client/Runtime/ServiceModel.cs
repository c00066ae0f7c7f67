using Mesh.Client.Faults;
using Mesh.Client.Internal;
using Mesh.Client.LoadBalancing;
using Mesh.Client.OutlierDetection;
using Mesh.Client.Resilience;
using Mesh.Client.Routing;
using Mesh.Client.Telemetry;

namespace Mesh.Client.Runtime;

/// <summary>
/// One service in the immutable runtime model: its routes, pickers, outlier detector and breaker settings. It refers
/// to the state objects the handler updates (endpoint records, the retry budget) but not to the
/// <see cref="ServiceState"/> that keeps them across rebuilds: only the builder reads that.
/// </summary>
internal sealed class ServiceModel
{
    private readonly RouteModel[] _routes;

    private ServiceModel(string name, RouteModel[] routes, EndpointState[] endpoints, OutlierDetector outliers,
        RetryBudget budget, CircuitBreakerModel? breaker, ConnectionPoolLimit? connectionPool, MirrorLimit mirrors)
    {
        Name = name;
        MetricVersions = MetricVersions.Of(endpoints);
        _routes = routes;
        Endpoints = endpoints;
        Outliers = outliers;
        Budget = budget;
        Breaker = breaker;
        ConnectionPool = connectionPool;
        Mirrors = mirrors;
    }

    public string Name { get; }

    public IReadOnlyList<RouteModel> Routes => _routes;

    public EndpointState[] Endpoints { get; }

    /// <summary>The <c>destination_version</c> values this model's endpoints may be labelled with.</summary>
    public MetricVersions MetricVersions { get; }

    public OutlierDetector Outliers { get; }

    public RetryBudget Budget { get; }

    /// <summary>The breaker settings, or null when breakers are off.</summary>
    public CircuitBreakerModel? Breaker { get; }

    /// <summary>The limit on calls in flight to the service, or null without <c>ConnectionPool:MaxRequests</c>.</summary>
    public ConnectionPoolLimit? ConnectionPool { get; }

    /// <summary>Mirror copies of the service in flight (kept by its state across models).</summary>
    public MirrorLimit Mirrors { get; }

    /// <summary>The first route that matches, or null (Istio answers 404 then).</summary>
    public RouteModel? Match(HttpRequestMessage request)
    {
        foreach (var route in _routes)
        {
            if (route.Matches(request))
            {
                return route;
            }
        }

        return null;
    }

    /// <summary>
    /// Builds a service's model; <paramref name="localZone"/> is this app's zone (<c>Mesh:Service:Zone</c>), which
    /// locality-aware balancing prefers.
    /// </summary>
    public static ServiceModel Build(ServiceState state, ServicePolicyOptions policy, EndpointState[] endpoints, string? localZone,
        MeshTelemetry telemetry, TimeProvider timeProvider, RandomSource random)
    {
        var name = state.Name;
        state.Ejections.MinHealthPercent = policy.LoadBalancer.MinHealthPercent;
        var budget = state.ResolveBudget(policy.RetryBudget);
        var breaker = CircuitBreakerModel.From(policy.CircuitBreaker);
        var connectionPool = state.ResolveConnectionPool(policy.ConnectionPool);
        state.ResolveBreakers(breaker, endpoints);

        var pickers = new Dictionary<string, EndpointPicker>(StringComparer.OrdinalIgnoreCase);
        EndpointPicker PickerFor(string? subset)
        {
            var key = subset ?? string.Empty;
            if (!pickers.TryGetValue(key, out var picker))
            {
                var members = endpoints;
                if (subset is not null && policy.Subsets.TryGetValue(subset, out var selector))
                {
                    members = Array.FindAll(endpoints, e => Selects(selector, e));
                }

                // The subset restricts the endpoints first; locality groups them by zone within it.
                picker = LocalityPicker.Create(policy.LoadBalancer, localZone, members, state.Ejections, random, timeProvider, telemetry, name,
                    state.SlowStart);
                pickers[key] = picker;
            }

            return picker;
        }

        var routeOptions = policy.Routes.Count > 0 ? policy.Routes : [new RouteOptions { Name = "default" }];
        var routes = new RouteModel[routeOptions.Count];
        for (var i = 0; i < routeOptions.Count; i++)
        {
            var r = routeOptions[i];
            RouteDestination[] destinations;
            if (r.Destinations.Count == 0)
            {
                destinations = [new RouteDestination(string.Empty, PickerFor(null), 100)];
            }
            else
            {
                var cumulative = 0;
                var list = new List<RouteDestination>(r.Destinations.Count);
                foreach (var d in r.Destinations)
                {
                    cumulative += d.Weight;
                    if (d.Weight > 0)
                    {
                        list.Add(new RouteDestination(d.Subset ?? string.Empty, PickerFor(d.Subset), cumulative));
                    }
                }

                destinations = [.. list];
            }

            var mirror = r.Mirror is { Subset: { } mirrorSubset } ? new RouteDestination(mirrorSubset, PickerFor(mirrorSubset), 100) : null;
            var route = new RouteModel(r.Name ?? $"route-{i}", r.Match, destinations, r.Timeout, RetryModel.From(r.Retry),
                r.Fault is null ? null : new FaultInjection(r.Fault), mirror, r.Mirror?.Percentage ?? 0, HedgingModel.From(r.Hedging));
            routes[i] = route;
        }

        var outliers = new OutlierDetector(policy.OutlierDetection, endpoints, state.Ejections, telemetry, name, state.SlowStart);
        return new ServiceModel(name, routes, endpoints, outliers, budget, breaker, connectionPool, state.Mirrors);
    }

    private static bool Selects(IDictionary<string, string> selector, EndpointState endpoint)
    {
        foreach (var (label, value) in selector)
        {
            if (!endpoint.Labels.TryGetValue(label, out var actual) || !string.Equals(actual, value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}
