using Mesh.Client.Internal;

namespace Mesh.Client.LoadBalancing;

internal sealed class RoundRobinPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    : EndpointPicker(endpoints, ejections, random)
{
    // Start at a random position so that many clients created at once do not all hit the first endpoint together.
    private int _next = random.Next(Math.Max(1, endpoints.Length));

    protected override EndpointState? Pick(HttpRequestMessage request, in PickFilter filter)
    {
        var endpoints = Endpoints;
        var slowStart = ActiveSlowStart(out var now);
        EndpointState? declined = null;
        for (var i = 0; i < endpoints.Length; i++)
        {
            // Skipping moves the shared counter on, rather than scanning from here: a scan would hand an ejected
            // endpoint's turn to its neighbour, which would then get twice its share. A turn an endpoint ramping up
            // declines moves on the same way, so that endpoint gets its weight's share of turns.
            var e = endpoints[(int)((uint)Interlocked.Increment(ref _next) % (uint)endpoints.Length)];
            if (filter.Accepts(e))
            {
                if (KeepsDraw(e, slowStart, now))
                {
                    return e;
                }

                declined ??= e;
            }
        }

        return declined;
    }
}
