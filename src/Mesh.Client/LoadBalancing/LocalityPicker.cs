using System.Diagnostics;
using Mesh.Client.Internal;
using Mesh.Client.Telemetry;

namespace Mesh.Client.LoadBalancing;

/// <summary>
/// Locality-aware balancing, a layer above the per-endpoint pickers: a destination's endpoints are split into groups
/// by zone, each with a picker of the service's policy, and a pick chooses a group first, then an endpoint in it.
/// <para>
/// Failover follows Envoy's priority levels: the caller's zone first, then the <c>Failover</c> zones in order, then the
/// rest together. A group's availability is min(1, 1.4 × its healthy share) (Envoy's overprovisioning factor), and
/// each group takes as much of the traffic as its availability allows, the remainder spilling to the next; when the
/// groups together fall short of 1 their shares are scaled up to sum to 1. Distribute follows Envoy's locality
/// weights: a zone's share is its weight times its availability.
/// </para>
/// <para>
/// Healthy means not ejected by outlier detection. A group passes over its ejected endpoints while the groups together
/// are fully available; below that each group applies panic mode on its own endpoints (Envoy's rule). An open
/// circuit breaker does not count against availability: breakers are per client, and the attempt that meets one moves
/// to another endpoint through this layer, in the same zone first.
/// </para>
/// </summary>
internal sealed class LocalityPicker : EndpointPicker
{
    /// <summary>Envoy's overprovisioning factor: a group with 1/1.4 (71%) of its endpoints healthy keeps all its traffic.</summary>
    private const double Overprovisioning = 1.4;

    // Groups are zones; more than this many, and a pick's shares go to the heap instead of the stack.
    private const int MaxStackGroups = 16;

    private readonly EndpointPicker[] _groups;
    private readonly double[]? _weights;
    private readonly double _weightTotal;
    private readonly MeshTelemetry _telemetry;
    private readonly string _service;

    private LocalityPicker(EndpointState[] endpoints, EndpointPicker[] groups, double[]? weights, EjectionTracker ejections,
        RandomSource random, MeshTelemetry telemetry, string service, string localZone)
        : base(endpoints, ejections, random)
    {
        _groups = groups;
        _weights = weights;
        _weightTotal = weights is null ? 0 : weights.Sum();
        _telemetry = telemetry;
        _service = service;
        LocalZone = localZone;
    }

    /// <summary>The caller's zone.</summary>
    public string LocalZone { get; }

    /// <summary>The groups in priority order (failover) or by descending weight (distribute).</summary>
    internal IReadOnlyList<EndpointPicker> Groups => _groups;

    /// <summary>
    /// The picker of a destination: a locality layer over per-zone pickers when this app has a zone, locality is
    /// on and some endpoint has a zone; otherwise the plain picker, so that a destination without zones pays nothing.
    /// </summary>
    public static EndpointPicker Create(LoadBalancerOptions options, string? localZone, EndpointState[] endpoints,
        EjectionTracker ejections, RandomSource random, TimeProvider timeProvider, MeshTelemetry telemetry, string service,
        SlowStartTracker? slowStart = null)
    {
        var locality = options.Locality;
        if (!locality.Enabled || string.IsNullOrEmpty(localZone) || Array.TrueForAll(endpoints, static e => e.Zone is null))
        {
            return Create(options, endpoints, ejections, random, timeProvider, slowStart);
        }

        var members = new List<EndpointState[]>();
        double[]? weights = null;
        if (locality.Distribute.Count > 0)
        {
            var shares = new List<double>();
            foreach (var (zone, weight) in locality.Distribute.Where(d => d.Value > 0).OrderByDescending(d => d.Value)
                .ThenBy(d => d.Key, StringComparer.OrdinalIgnoreCase))
            {
                var inZone = Array.FindAll(endpoints, e => SameZone(e.Zone, zone));
                if (inZone.Length > 0)
                {
                    members.Add(inZone);
                    shares.Add(weight);
                }
            }

            if (members.Count == 0)
            {
                // No endpoint in any zone Distribute names: sending nothing anywhere would be an outage, not a policy.
                return Create(options, endpoints, ejections, random, timeProvider, slowStart);
            }

            weights = [.. shares];
        }
        else
        {
            var assigned = new HashSet<EndpointState>();
            void AddGroup(EndpointState[] group)
            {
                if (group.Length > 0)
                {
                    members.Add(group);
                    assigned.UnionWith(group);
                }
            }

            AddGroup(Array.FindAll(endpoints, e => SameZone(e.Zone, localZone)));
            foreach (var zone in locality.Failover)
            {
                if (!SameZone(zone, localZone))
                {
                    AddGroup(Array.FindAll(endpoints, e => SameZone(e.Zone, zone) && !assigned.Contains(e)));
                }
            }

            AddGroup(Array.FindAll(endpoints, e => !assigned.Contains(e)));
        }

        var groups = new EndpointPicker[members.Count];
        for (var i = 0; i < groups.Length; i++)
        {
            groups[i] = Create(options, members[i], ejections, random, timeProvider, slowStart);
        }

        EndpointState[] all = [.. members.SelectMany(m => m)];
        return new LocalityPicker(all, groups, weights, ejections, random, telemetry, service, localZone);
    }

    /// <summary>Counts an attempt sent outside the caller's zone.</summary>
    public void OnAttempt(EndpointState endpoint)
    {
        if (!SameZone(endpoint.Zone, LocalZone))
        {
            _telemetry.RecordCrossZone(_service, LocalZone, endpoint.Zone ?? "unknown");
        }
    }

    internal override EndpointState? PickEndpoint(HttpRequestMessage request, EndpointState? avoid)
    {
        var groups = _groups;
        if (groups.Length == 1)
        {
            return groups[0].PickEndpoint(request, avoid, panicAllowed: true);
        }

        int chosen;
        bool panicAllowed;
        var active = Ejections.TryGetActive(out var now);
        if (!active)
        {
            // Nothing ejected: every group is fully available, so failover keeps all traffic in the first one.
            chosen = _weights is null ? 0 : Draw(_weights, _weightTotal);
            panicAllowed = false;
        }
        else
        {
            Span<double> shares = groups.Length <= MaxStackGroups ? stackalloc double[groups.Length] : new double[groups.Length];
            chosen = _weights is null ? ChooseByPriority(shares, now, out panicAllowed) : ChooseByWeight(_weights, shares, now, out panicAllowed);
        }

        var picked = groups[chosen].PickEndpoint(request, avoid, panicAllowed);
        if (avoid is null || !ReferenceEquals(picked, avoid))
        {
            return picked;
        }

        // The chosen group has nothing but the endpoint the last attempt went to: a healthy endpoint of another group
        // is the better retry, the groups taken in order.
        for (var i = 0; i < groups.Length; i++)
        {
            if (i != chosen && groups[i].PickEndpoint(request, avoid, panicAllowed: false) is { } other &&
                !ReferenceEquals(other, avoid) && !(active && other.IsEjected(now)))
            {
                return other;
            }
        }

        return picked;
    }

    // The locality layer chooses through its groups' pickers (PickEndpoint above); the base never asks it for one.
    protected override EndpointState? Pick(HttpRequestMessage request, in PickFilter filter) =>
        throw new UnreachableException("A locality picker picks through its groups.");

    /// <summary>Envoy's priority load: each group takes what its availability allows of what the ones before left.</summary>
    private int ChooseByPriority(Span<double> availability, long now, out bool panicAllowed)
    {
        var groups = _groups;
        var total = 0.0;
        for (var i = 0; i < groups.Length; i++)
        {
            availability[i] = Availability(groups[i].Endpoints, now);
            total += availability[i];
        }

        if (total == 0)
        {
            // Every endpoint ejected: Envoy sends everything to the first priority, which panics.
            panicAllowed = true;
            return 0;
        }

        panicAllowed = total < 1;
        var normalized = Math.Min(1, total);
        var draw = Random.NextDouble();
        var remaining = 1.0;
        var last = 0;
        for (var i = 0; i < groups.Length; i++)
        {
            if (availability[i] == 0)
            {
                continue;
            }

            var load = Math.Min(remaining, availability[i] / normalized);
            if (draw < load)
            {
                return i;
            }

            draw -= load;
            remaining -= load;
            last = i;
        }

        return last; // rounding left a sliver of the draw
    }

    /// <summary>Envoy's locality weights: a zone's weight times its availability.</summary>
    private int ChooseByWeight(double[] weights, Span<double> shares, long now, out bool panicAllowed)
    {
        var groups = _groups;
        var total = 0.0;
        var healthy = 0;
        var count = 0;
        for (var i = 0; i < groups.Length; i++)
        {
            var endpoints = groups[i].Endpoints;
            var up = Healthy(endpoints, now);
            healthy += up;
            count += endpoints.Length;
            shares[i] = weights[i] * Math.Min(1, Overprovisioning * up / endpoints.Length);
            total += shares[i];
        }

        panicAllowed = Overprovisioning * healthy < count;
        if (total == 0)
        {
            // Every endpoint of every zone ejected: the configured split, each zone in panic.
            return Draw(weights, _weightTotal);
        }

        return Draw(shares, total);
    }

    private int Draw(ReadOnlySpan<double> shares, double total)
    {
        var draw = Random.NextDouble() * total;
        var last = 0;
        for (var i = 0; i < shares.Length; i++)
        {
            if (shares[i] == 0)
            {
                continue;
            }

            if (draw < shares[i])
            {
                return i;
            }

            draw -= shares[i];
            last = i;
        }

        return last;
    }

    private static double Availability(EndpointState[] endpoints, long now) =>
        Math.Min(1, Overprovisioning * Healthy(endpoints, now) / endpoints.Length);

    private static int Healthy(EndpointState[] endpoints, long now)
    {
        var healthy = 0;
        foreach (var e in endpoints)
        {
            if (!e.IsEjected(now))
            {
                healthy++;
            }
        }

        return healthy;
    }

    private static bool SameZone(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}
