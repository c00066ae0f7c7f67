using Mesh.Client.Internal;

namespace Mesh.Client.LoadBalancing;

internal sealed class RandomPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    : EndpointPicker(endpoints, ejections, random)
{
    // Draws before giving up on weights; the share a declined endpoint gets from the last resort is its refusal
    // probability to this power, negligible, where a bound of one draw per endpoint would skew the ramp visibly.
    private const int MaxDraws = 16;

    protected override EndpointState? Pick(HttpRequestMessage request, in PickFilter filter)
    {
        var slowStart = ActiveSlowStart(out var now);
        if (slowStart is null)
        {
            var start = Random.Next(Endpoints.Length);
            return filter.IsAll ? Endpoints[start] : Scan(start, filter);
        }

        // Weighted: an endpoint ramping up keeps a draw with probability its weight, otherwise the draw is repeated.
        EndpointState? declined = null;
        for (var i = 0; i < MaxDraws; i++)
        {
            var e = Scan(Random.Next(Endpoints.Length), filter);
            if (e is null || KeepsDraw(e, slowStart, now))
            {
                return e;
            }

            declined ??= e;
        }

        return declined;
    }
}
