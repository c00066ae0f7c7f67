using Mesh.Client.Internal;
using Mesh.Client.OutlierDetection;

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

    public static EndpointPicker Create(LoadBalancerOptions options, EndpointState[] endpoints, EjectionTracker ejections,
        RandomSource random, TimeProvider timeProvider) => options.Policy switch
        {
            LoadBalancerPolicy.RoundRobin => new RoundRobinPicker(endpoints, ejections, random),
            LoadBalancerPolicy.Random => new RandomPicker(endpoints, ejections, random),
            LoadBalancerPolicy.LeastRequest => new LeastRequestPicker(endpoints, ejections, random),
            LoadBalancerPolicy.RingHash => new RingHashPicker(endpoints, ejections, random, options.HashHeader!),
            _ => new PeakEwmaPicker(endpoints, ejections, random, timeProvider),
        };

    /// <summary>Chooses an endpoint, or null when the set is empty.</summary>
    public EndpointState? Pick(HttpRequestMessage request, EndpointState? avoid)
    {
        var endpoints = Endpoints;
        if (endpoints.Length == 0)
        {
            return null;
        }

        var filterEjected = Ejections.TryGetActive(out var now) && !Ejections.IsPanic(endpoints, now);
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
