using Mesh.Client.Internal;

namespace Mesh.Client.LoadBalancing;

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
