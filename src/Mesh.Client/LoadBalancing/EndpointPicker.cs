using Mesh.Client.Internal;
using Mesh.Client.Resilience;

namespace Mesh.Client.LoadBalancing;

/// <summary>
/// An immutable choice over a fixed set of endpoints (a subset of a service). A change in endpoints or policy builds
/// a new picker; picking never takes a lock. Ejected endpoints are skipped unless too few healthy ones remain
/// (panic mode), and a retry's previous endpoint is avoided when another will do.
/// </summary>
internal abstract class EndpointPicker
{
    protected EndpointPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    {
        Endpoints = endpoints;
        Ejections = ejections;
        Random = random;
    }

    public EndpointState[] Endpoints { get; }

    protected EjectionTracker Ejections { get; }

    protected RandomSource Random { get; }

    /// <summary>The service's slow start, or null when it has none (RingHash never has one).</summary>
    protected SlowStartModel? SlowStart { get; private set; }

    public static EndpointPicker Create(LoadBalancerOptions options, EndpointState[] endpoints, EjectionTracker ejections,
        RandomSource random, TimeProvider timeProvider, SlowStartTracker? slowStart = null)
    {
        EndpointPicker picker = options.Policy switch
        {
            LoadBalancerPolicy.RoundRobin => new RoundRobinPicker(endpoints, ejections, random),
            LoadBalancerPolicy.Random => new RandomPicker(endpoints, ejections, random),
            LoadBalancerPolicy.LeastRequest => new LeastRequestPicker(endpoints, ejections, random),
            LoadBalancerPolicy.RingHash => new RingHashPicker(endpoints, ejections, random, options.HashHeader!),
            _ => new PeakEwmaPicker(endpoints, ejections, random, timeProvider),
        };

        if (options.Policy != LoadBalancerPolicy.RingHash)
        {
            picker.SlowStart = SlowStartModel.From(options.SlowStart, slowStart ?? new SlowStartTracker(timeProvider));
        }

        return picker;
    }

    /// <summary>
    /// Whether <paramref name="endpoint"/>, drawn by a weighted choice, keeps its draw: an endpoint ramping up keeps it
    /// with probability its slow-start weight, so its share is its weight over the sum of weights.
    /// </summary>
    protected bool KeepsDraw(EndpointState endpoint, SlowStartModel? slowStart, long now) =>
        slowStart is null || Random.NextDouble() < slowStart.Weight(endpoint, now);

    /// <summary>The slow start when some endpoint may be ramping up, with the clock then; otherwise null.</summary>
    protected SlowStartModel? ActiveSlowStart(out long now)
    {
        now = 0;
        return SlowStart is { } slowStart && slowStart.TryGetActive(out now) ? slowStart : null;
    }

    /// <summary>Chooses an endpoint with no circuit breaker to ask (a mirrored copy, say).</summary>
    public PickResult Pick(HttpRequestMessage request, EndpointState? avoid) =>
        PickEndpoint(request, avoid) is { } endpoint ? PickResult.Picked(endpoint, breaker: null, isProbe: false) : PickResult.NoEndpoint;

    /// <summary>
    /// Chooses the endpoint of an attempt and, when the service has circuit breakers (<paramref name="breakers"/>),
    /// asks the breaker of <paramref name="client"/> on it. An endpoint whose breaker is open, or whose probe another
    /// call just took, is passed over for another when there is one.
    /// </summary>
    public PickResult Pick(HttpRequestMessage request, EndpointState? avoid, CircuitBreakerModel? breakers, string client)
    {
        var endpoint = PickEndpoint(request, avoid);
        if (endpoint is null)
        {
            return PickResult.NoEndpoint;
        }

        if (breakers is null)
        {
            return PickResult.Picked(endpoint, breaker: null, isProbe: false);
        }

        var time = Ejections.TimeProvider;
        var breaker = endpoint.BreakerFor(client, breakers, time);
        var several = Endpoints.Length > 1;
        if (breaker.IsOpen && several && OtherThan(request, endpoint) is { } other)
        {
            // The breaker would refuse this attempt; another endpoint is a better use of it.
            endpoint = other;
            breaker = endpoint.BreakerFor(client, breakers, time);
        }

        if (breaker.TryAcquire(out var probe))
        {
            return PickResult.Picked(endpoint, breaker, probe);
        }

        // Refused, typically because another call took the probe the moment a break ended: one more endpoint.
        if (several && OtherThan(request, endpoint) is { } fallback)
        {
            var fallbackBreaker = fallback.BreakerFor(client, breakers, time);
            if (fallbackBreaker.TryAcquire(out probe))
            {
                return PickResult.Picked(fallback, fallbackBreaker, probe);
            }
        }

        return PickResult.CircuitOpen(endpoint);
    }

    private EndpointState? OtherThan(HttpRequestMessage request, EndpointState endpoint) =>
        PickEndpoint(request, endpoint) is { } other && other != endpoint ? other : null;

    /// <summary>Chooses an endpoint, or null when the set is empty.</summary>
    internal virtual EndpointState? PickEndpoint(HttpRequestMessage request, EndpointState? avoid) =>
        PickEndpoint(request, avoid, panicAllowed: true);

    /// <summary>
    /// Chooses an endpoint, or null when the set is empty. Without <paramref name="panicAllowed"/> ejected endpoints
    /// are passed over while any endpoint is healthy, however few: the locality layer above, which sees every zone,
    /// decides when a group must take its traffic on all its endpoints.
    /// </summary>
    internal EndpointState? PickEndpoint(HttpRequestMessage request, EndpointState? avoid, bool panicAllowed)
    {
        var endpoints = Endpoints;
        if (endpoints.Length == 0)
        {
            return null;
        }

        var filterEjected = Ejections.TryGetActive(out var now) && !(panicAllowed && Ejections.IsPanic(endpoints, now));
        if (!filterEjected && (avoid is null || endpoints.Length == 1))
        {
            return Pick(request, PickFilter.All);
        }

        var picked = Pick(request, new PickFilter(avoid, filterEjected, now));
        if (picked is null && avoid is not null)
        {
            // Every other endpoint is ejected: going back to the previous one beats failing the retry.
            picked = Pick(request, new PickFilter(null, filterEjected, now));
        }

        return picked ?? Pick(request, PickFilter.All);
    }

    protected abstract EndpointState? Pick(HttpRequestMessage request, in PickFilter filter);

    /// <summary>Takes the first acceptable endpoint scanning from <paramref name="start"/>.</summary>
    protected EndpointState? Scan(int start, in PickFilter filter)
    {
        var endpoints = Endpoints;
        for (var i = 0; i < endpoints.Length; i++)
        {
            var e = endpoints[(start + i) % endpoints.Length];
            if (filter.Accepts(e))
            {
                return e;
            }
        }

        return null;
    }
}
