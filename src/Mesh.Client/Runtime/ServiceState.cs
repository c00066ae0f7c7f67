using Mesh.Client.Discovery;
using Mesh.Client.Routing;
using Mesh.Client.LoadBalancing;
using Mesh.Client.Resilience;

namespace Mesh.Client.Runtime;

/// <summary>
/// What outlives models for one service: endpoint records (latency, ejections), the ejection tracker, the retry
/// budget, the overflow limit and the mirror copies in flight. Only the model builder touches it, under the runtime's build lock.
/// </summary>
internal sealed class ServiceState(string name, TimeProvider timeProvider)
{
    private readonly Dictionary<string, EndpointState> _endpoints = new(StringComparer.OrdinalIgnoreCase);
    private RetryBudgetOptions? _budgetOptions;
    private CircuitBreakerModel? _breaker;
    private bool _resolved;
    private bool _hadEndpoints;

    public string Name { get; } = name;

    public EjectionTracker Ejections { get; } = new(timeProvider);

    /// <summary>When endpoints of this service began ramping up (slow start).</summary>
    public SlowStartTracker SlowStart { get; } = new(timeProvider);

    public RetryBudget? Budget { get; private set; }

    /// <summary>Mirror copies of the service in flight; one count for the service whatever its models.</summary>
    public MirrorLimit Mirrors { get; } = new();

    /// <summary>The service's overflow limit, kept while its settings stay the same (see <see cref="ConnectionPoolLimit"/>).</summary>
    public ConnectionPoolLimit? ConnectionPool { get; private set; }

    public ConnectionPoolLimit? ResolveConnectionPool(ConnectionPoolOptions options) =>
        ConnectionPool = ConnectionPoolLimit.Resolve(options, ConnectionPool);

    public EndpointState[] ResolveEndpoints(IReadOnlyList<DiscoveredEndpoint> discovered)
    {
        var result = new EndpointState[discovered.Count];
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var n = 0;
        foreach (var d in discovered)
        {
            var authority = d.Address.GetLeftPart(UriPartial.Authority);
            if (!seen.Add(authority))
            {
                continue;
            }

            // Keep what was learnt about an endpoint across reloads, unless its identity (labels, zone) changed.
            var known = _endpoints.TryGetValue(authority, out var existing);
            var state = existing;
            if (state is null || !SameLabels(state, d))
            {
                state = new EndpointState(new Uri(authority), d.Labels, d.Zone);
                _endpoints[authority] = state;
                if (!known && _hadEndpoints)
                {
                    // Envoy's rule: an endpoint that joins a running service ramps up; those there from the start do not.
                    var now = timeProvider.GetTimestamp();
                    state.MarkAdded(now);
                    SlowStart.OnStarted(now);
                }
            }

            result[n++] = state;
        }

        foreach (var stale in _endpoints.Keys.Where(k => !seen.Contains(k)).ToList())
        {
            _endpoints.Remove(stale);
        }

        _hadEndpoints |= n > 0;
        return n == result.Length ? result : result[..n];
    }

    public RetryBudget ResolveBudget(RetryBudgetOptions options)
    {
        if (Budget is null || _budgetOptions is null || _budgetOptions.RetryRatio != options.RetryRatio ||
            _budgetOptions.MinRetriesPerSecond != options.MinRetriesPerSecond || _budgetOptions.Ttl != options.Ttl)
        {
            Budget = new RetryBudget(options, timeProvider);
            _budgetOptions = options;
        }

        return Budget;
    }

    /// <summary>
    /// Breakers are built from the settings in force when first used; changed settings (turning breakers off included)
    /// start them afresh.
    /// </summary>
    public void ResolveBreakers(CircuitBreakerModel? breaker, EndpointState[] endpoints)
    {
        var changed = _resolved && _breaker != breaker;
        _breaker = breaker;
        _resolved = true;
        if (changed)
        {
            foreach (var e in endpoints)
            {
                e.Breakers.Clear();
            }
        }
    }

    private static bool SameLabels(EndpointState state, DiscoveredEndpoint d)
    {
        if (state.Zone != d.Zone || state.Labels.Count != d.Labels.Count)
        {
            return false;
        }

        foreach (var (k, v) in d.Labels)
        {
            if (!state.Labels.TryGetValue(k, out var existing) || existing != v)
            {
                return false;
            }
        }

        return true;
    }
}
