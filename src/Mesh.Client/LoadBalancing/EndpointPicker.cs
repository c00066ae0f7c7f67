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

/// <summary>Which endpoints a pick may return.</summary>
internal readonly struct PickFilter(EndpointState? avoid, bool filterEjected, long now)
{
    public static PickFilter All => default;

    public bool IsAll => avoid is null && !filterEjected;

    public bool Accepts(EndpointState e) => !ReferenceEquals(e, avoid) && !(filterEjected && e.IsEjected(now));
}

internal sealed class RoundRobinPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    : EndpointPicker(endpoints, ejections, random)
{
    // Start at a random position so that many clients created at once do not all hit the first endpoint together.
    private int _next = random.Next(Math.Max(1, endpoints.Length));

    protected override EndpointState? Pick(HttpRequestMessage request, in PickFilter filter)
    {
        var endpoints = Endpoints;
        for (var i = 0; i < endpoints.Length; i++)
        {
            // Skipping moves the shared counter on, rather than scanning from here: a scan would hand an ejected
            // endpoint's turn to its neighbour, which would then get twice its share.
            var e = endpoints[(int)((uint)Interlocked.Increment(ref _next) % (uint)endpoints.Length)];
            if (filter.Accepts(e))
            {
                return e;
            }
        }

        return null;
    }
}

internal sealed class RandomPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    : EndpointPicker(endpoints, ejections, random)
{
    protected override EndpointState? Pick(HttpRequestMessage request, in PickFilter filter)
    {
        var start = Random.Next(Endpoints.Length);
        return filter.IsAll ? Endpoints[start] : Scan(start, filter);
    }
}

/// <summary>Power of two choices: two distinct random endpoints, the cheaper one wins.</summary>
internal abstract class TwoChoicesPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    : EndpointPicker(endpoints, ejections, random)
{
    /// <summary>The cost of an endpoint at <paramref name="now"/>, a timestamp from <see cref="Now"/>.</summary>
    protected abstract double Cost(EndpointState endpoint, long now);

    /// <summary>
    /// The timestamp the costs of one pick are computed at, read once per pick rather than once per candidate;
    /// 0 for costs that do not depend on time.
    /// </summary>
    protected virtual long Now() => 0;

    protected override EndpointState? Pick(HttpRequestMessage request, in PickFilter filter)
    {
        var endpoints = Endpoints;
        if (endpoints.Length == 1)
        {
            return filter.Accepts(endpoints[0]) ? endpoints[0] : null;
        }

        var a = Random.Next(endpoints.Length);
        var b = Random.Next(endpoints.Length - 1);
        if (b >= a)
        {
            b++;
        }

        var ea = endpoints[a];
        var eb = endpoints[b];
        var okA = filter.Accepts(ea);
        var okB = filter.Accepts(eb);
        if (okA && okB)
        {
            var now = Now();
            return Cost(eb, now) < Cost(ea, now) ? eb : ea;
        }

        if (okA)
        {
            return ea;
        }

        if (okB)
        {
            return eb;
        }

        // Both draws were excluded: fall back to the cheapest acceptable endpoint.
        EndpointState? best = null;
        var bestCost = double.MaxValue;
        var at = Now();
        foreach (var e in endpoints)
        {
            if (filter.Accepts(e))
            {
                var cost = Cost(e, at);
                if (best is null || cost < bestCost)
                {
                    best = e;
                    bestCost = cost;
                }
            }
        }

        return best;
    }
}

internal sealed class LeastRequestPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    : TwoChoicesPicker(endpoints, ejections, random)
{
    protected override double Cost(EndpointState endpoint, long now) => endpoint.InFlight;
}

internal sealed class PeakEwmaPicker : TwoChoicesPicker
{
    private readonly TimeProvider _timeProvider;
    private readonly double _decayTicks;
    private readonly double _unknownLatencyTicks;

    public PeakEwmaPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random, TimeProvider timeProvider)
        : base(endpoints, ejections, random)
    {
        _timeProvider = timeProvider;
        _decayTicks = DecayTicks(timeProvider);

        // An endpoint with no sample yet is assumed to take 10 ms: cheap enough to get traffic, not a magnet.
        _unknownLatencyTicks = timeProvider.TimestampFrequency / 100.0;
    }

    /// <summary>Finagle's and Linkerd's decay time, 10 s: how long a latency sample keeps its weight.</summary>
    public static double DecayTicks(TimeProvider timeProvider) => timeProvider.TimestampFrequency * 10.0;

    protected override long Now() => _timeProvider.GetTimestamp();

    protected override double Cost(EndpointState endpoint, long now) =>
        endpoint.Cost(now, _decayTicks, _unknownLatencyTicks);
}

/// <summary>
/// Consistent hashing: each endpoint owns many points on a ring, a request goes to the first point at or after the
/// hash of its <c>HashHeader</c> value. Removing one of N endpoints moves only the keys it owned, about 1/N.
/// </summary>
internal sealed class RingHashPicker : EndpointPicker
{
    // 160 points per endpoint keeps each endpoint's share within a few percent of 1/N for small N.
    private const int PointsPerEndpoint = 160;
    private readonly ulong[] _ring;
    private readonly EndpointState[] _owners;
    private readonly string _header;

    public RingHashPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random, string header)
        : base(endpoints, ejections, random)
    {
        _header = header;
        var points = new (ulong Hash, EndpointState Owner)[endpoints.Length * PointsPerEndpoint];
        var n = 0;
        foreach (var e in endpoints)
        {
            for (var i = 0; i < PointsPerEndpoint; i++)
            {
                points[n++] = (StableHash.Hash($"{e.Authority}#{i}"), e);
            }
        }

        Array.Sort(points, static (x, y) => x.Hash.CompareTo(y.Hash));
        _ring = new ulong[points.Length];
        _owners = new EndpointState[points.Length];
        for (var i = 0; i < points.Length; i++)
        {
            _ring[i] = points[i].Hash;
            _owners[i] = points[i].Owner;
        }
    }

    protected override EndpointState? Pick(HttpRequestMessage request, in PickFilter filter)
    {
        if (!request.Headers.NonValidated.TryGetValues(_header, out var values) || values.Count == 0)
        {
            // No key to hash: any endpoint will do.
            return Scan(Random.Next(Endpoints.Length), filter);
        }

        var hash = StableHash.Hash(values.ToString());
        var index = Array.BinarySearch(_ring, hash);
        if (index < 0)
        {
            index = ~index;
        }

        for (var i = 0; i < _owners.Length; i++)
        {
            var e = _owners[(index + i) % _owners.Length];
            if (filter.Accepts(e))
            {
                return e;
            }
        }

        return null;
    }
}
