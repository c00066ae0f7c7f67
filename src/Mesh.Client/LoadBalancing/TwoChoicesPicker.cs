using Mesh.Client.Internal;

namespace Mesh.Client.LoadBalancing;

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

    /// <summary>A pick weighed <paramref name="endpoint"/> against another and took the other.</summary>
    protected virtual void OnPassedOver(EndpointState endpoint)
    {
    }

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
            // a and b are drawn at random, so a tie goes either way.
            var now = Now();
            var costA = Cost(ea, now);
            var costB = Cost(eb, now);
            if (ActiveSlowStart(out var rampNow) is { } slowStart)
            {
                // An endpoint ramping up looks as much dearer as its weight is below a full one.
                costA /= slowStart.Weight(ea, rampNow);
                costB /= slowStart.Weight(eb, rampNow);
            }

            var (picked, passedOver) = costB < costA ? (eb, ea) : (ea, eb);
            OnPassedOver(passedOver);
            return picked;
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
