using Mesh.Client.Internal;
using Mesh.Client.LoadBalancing;
using Mesh.Client.OutlierDetection;
using Mesh.Client.Runtime;
using Mesh.Client.Telemetry;
using Mesh.Testing;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests;

/// <summary>Locality-aware balancing over three zones of three endpoints each, the caller in zone-a.</summary>
public sealed class LocalityTests : IDisposable
{
    private const int Picks = 20_000;
    private static readonly string[] Zones = ["zone-a", "zone-b", "zone-c"];
    private readonly ManualTimeProvider _time = new();
    private readonly EjectionTracker _tracker;
    private readonly EndpointState[] _endpoints;
    private readonly TestMeterFactory _meters = new();
    private readonly MeshTelemetry _telemetry;
    private readonly OutlierDetector _detector;
    private readonly HttpRequestMessage _request = new(HttpMethod.Get, "http://svc/");

    public LocalityTests()
    {
        _tracker = new EjectionTracker(_time);
        _endpoints = [.. Enumerable.Range(0, 9).Select(i => new EndpointState(new Uri($"http://10.0.{i / 3}.{i % 3 + 1}:80"),
            new Dictionary<string, string> { ["version"] = i % 3 == 0 ? "v2" : "v1" }, Zones[i / 3]))];
        _telemetry = new MeshTelemetry(_meters);
        _detector = new OutlierDetector(new OutlierDetectionOptions { Consecutive5xxErrors = 1, MaxEjectionPercent = 100 }, _endpoints,
            _tracker, _telemetry, "svc");
    }

    private IEnumerable<EndpointState> InZone(string zone) => _endpoints.Where(e => e.Zone == zone);

    private EndpointPicker Picker(LocalityOptions? locality = null, LoadBalancerPolicy policy = LoadBalancerPolicy.RoundRobin,
        string? localZone = "zone-a", EndpointState[]? endpoints = null) =>
        LocalityPicker.Create(new LoadBalancerOptions { Policy = policy, Locality = locality ?? new LocalityOptions() }, localZone,
            endpoints ?? _endpoints, _tracker, new SeededRandomSource(11), _time, _telemetry, "svc");

    private void Eject(params EndpointState[] endpoints)
    {
        foreach (var e in endpoints)
        {
            _detector.Report(e, 503);
            e.IsEjected(_time.GetTimestamp()).ShouldBeTrue();
        }
    }

    /// <summary>Picks by zone, and the endpoints picked.</summary>
    private (Dictionary<string, int> Zones, HashSet<EndpointState> Endpoints) Run(EndpointPicker picker, int picks = Picks)
    {
        var zones = Zones.ToDictionary(z => z, _ => 0);
        var seen = new HashSet<EndpointState>();
        for (var i = 0; i < picks; i++)
        {
            var e = picker.Pick(_request, null).Endpoint!;
            zones[e.Zone!]++;
            seen.Add(e);
        }

        return (zones, seen);
    }

    [Theory]
    [InlineData(LoadBalancerPolicy.RoundRobin)]
    [InlineData(LoadBalancerPolicy.PeakEwma)]
    [InlineData(LoadBalancerPolicy.Random)]
    public void All_local_endpoints_healthy_take_all_the_traffic(LoadBalancerPolicy policy)
    {
        var (zones, seen) = Run(Picker(policy: policy));

        zones["zone-a"].ShouldBe(Picks);
        seen.ShouldBe(InZone("zone-a"), ignoreOrder: true);
    }

    [Fact]
    public void One_of_three_local_endpoints_ejected_keeps_local_traffic_at_availability_times_overprovisioning()
    {
        var picker = Picker(new LocalityOptions { Failover = ["zone-b", "zone-c"] });
        var ejected = InZone("zone-a").First();
        Eject(ejected);

        var (zones, seen) = Run(picker);

        // Envoy: min(1, 2/3 × 1.4) = 93.3% stays local, the rest goes to the next priority only.
        (100.0 * zones["zone-a"] / Picks).ShouldBe(100 * 2.0 / 3 * 1.4, tolerance: 0.5);
        (100.0 * zones["zone-b"] / Picks).ShouldBe(100 * (1 - (2.0 / 3 * 1.4)), tolerance: 0.5);
        zones["zone-c"].ShouldBe(0);
        seen.ShouldNotContain(ejected);
    }

    [Fact]
    public void All_local_endpoints_ejected_spill_to_the_next_failover_zone_and_never_to_the_third()
    {
        Eject([.. InZone("zone-a")]);

        var (zones, seen) = Run(Picker(new LocalityOptions { Failover = ["zone-b", "zone-c"] }));
        zones["zone-b"].ShouldBe(Picks);
        seen.ShouldBe(InZone("zone-b"), ignoreOrder: true);

        // The order is the configured one, not the zones' names.
        Run(Picker(new LocalityOptions { Failover = ["zone-c", "zone-b"] })).Zones["zone-c"].ShouldBe(Picks);
    }

    [Fact]
    public void Without_failover_the_other_zones_share_the_spill_over()
    {
        Eject([.. InZone("zone-a")]);

        var (zones, _) = Run(Picker());

        zones["zone-a"].ShouldBe(0);
        (100.0 * zones["zone-b"] / Picks).ShouldBe(50, tolerance: 1);
        (100.0 * zones["zone-c"] / Picks).ShouldBe(50, tolerance: 1);
    }

    [Fact]
    public void When_the_next_zone_is_degraded_too_the_third_takes_what_the_first_two_cannot()
    {
        // zone-a: 1 of 3 healthy (46.7%), zone-b: 2 of 3 (93.3%): zone-a 46.7%, zone-b 53.3% (what is left), zone-c none.
        Eject([.. InZone("zone-a").Take(2), InZone("zone-b").First()]);

        var (zones, seen) = Run(Picker(new LocalityOptions { Failover = ["zone-b", "zone-c"] }));

        (100.0 * zones["zone-a"] / Picks).ShouldBe(100 * 1.4 / 3, tolerance: 0.5);
        (100.0 * zones["zone-b"] / Picks).ShouldBe(100 - (100 * 1.4 / 3), tolerance: 0.5);
        zones["zone-c"].ShouldBe(0);

        // The zones together are fully available, so zone-a at 33% healthy does not panic: its share goes to its one
        // healthy endpoint only.
        seen.Count(e => e.IsEjected(_time.GetTimestamp())).ShouldBe(0);
    }

    [Fact]
    public void Panic_mode_applies_within_a_group_once_the_zones_together_fall_short()
    {
        // Two zones only, both at 1 of 3 healthy: availability 46.7% each, 93.3% together, scaled up to 50/50. Below
        // MinHealthPercent (50) each zone spreads its share over all its endpoints, ejected ones included.
        var endpoints = _endpoints.Where(e => e.Zone != "zone-c").ToArray();
        Eject([.. InZone("zone-a").Take(2), .. InZone("zone-b").Take(2)]);

        var (zones, seen) = Run(Picker(endpoints: endpoints));

        (100.0 * zones["zone-a"] / Picks).ShouldBe(50, tolerance: 1);
        seen.Count.ShouldBe(6);

        // Every endpoint ejected: the local zone takes everything, in panic.
        Eject([.. InZone("zone-a").Skip(2), .. InZone("zone-b").Skip(2)]);
        var (allDown, seenDown) = Run(Picker(endpoints: endpoints));
        allDown["zone-a"].ShouldBe(Picks);
        seenDown.ShouldBe(InZone("zone-a"), ignoreOrder: true);
    }

    [Fact]
    public void Distribute_weights_are_respected_and_shrink_with_a_zones_availability()
    {
        var picker = Picker(new LocalityOptions { Distribute = new Dictionary<string, int> { ["zone-a"] = 80, ["zone-b"] = 20 } });

        var (zones, _) = Run(picker);
        (100.0 * zones["zone-a"] / Picks).ShouldBe(80, tolerance: 1);
        (100.0 * zones["zone-b"] / Picks).ShouldBe(20, tolerance: 1);
        zones["zone-c"].ShouldBe(0);

        // zone-a at 2 of 3: weight 80 × 93.3% = 74.7 against zone-b's 20.
        Eject(InZone("zone-a").First());
        var (degraded, _) = Run(picker);
        (100.0 * degraded["zone-a"] / Picks).ShouldBe(100 * 74.6667 / 94.6667, tolerance: 1);
        degraded["zone-c"].ShouldBe(0);
    }

    [Fact]
    public void A_retry_prefers_another_endpoint_in_the_zone_then_another_zone()
    {
        var picker = Picker(new LocalityOptions { Failover = ["zone-b", "zone-c"] });
        var local = InZone("zone-a").ToArray();
        for (var i = 0; i < 100; i++)
        {
            var e = picker.Pick(_request, local[1]).Endpoint!;
            e.ShouldNotBe(local[1]);
            e.Zone.ShouldBe("zone-a");
        }

        // One local endpoint: the retry goes to the next zone rather than back to it.
        var single = Picker(new LocalityOptions { Failover = ["zone-b", "zone-c"] }, endpoints: [local[0], .. InZone("zone-b"), .. InZone("zone-c")]);
        for (var i = 0; i < 100; i++)
        {
            single.Pick(_request, local[0]).Endpoint!.Zone.ShouldBe("zone-b");
        }

        // ... to a healthy endpoint there: zone-b is ejected, so zone-c.
        Eject([.. InZone("zone-b")]);
        for (var i = 0; i < 100; i++)
        {
            single.Pick(_request, local[0]).Endpoint!.Zone.ShouldBe("zone-c");
        }
    }

    [Fact]
    public void Without_a_caller_zone_endpoint_zones_or_with_locality_off_the_plain_picker_is_used()
    {
        Picker().ShouldBeOfType<LocalityPicker>();
        Picker(localZone: null).ShouldNotBeOfType<LocalityPicker>();
        Picker(new LocalityOptions { Enabled = false }).ShouldNotBeOfType<LocalityPicker>();
        var zoneless = _endpoints.Select(e => new EndpointState(e.Address, e.Labels, null)).ToArray();
        Picker(endpoints: zoneless).ShouldNotBeOfType<LocalityPicker>();

        // Distribute naming no zone that has endpoints would send nothing anywhere: all endpoints, as without locality.
        var nowhere = Picker(new LocalityOptions { Distribute = new Dictionary<string, int> { ["zone-x"] = 100 } });
        nowhere.ShouldNotBeOfType<LocalityPicker>();
        nowhere.Endpoints.Length.ShouldBe(9);
    }

    [Fact]
    public void A_subset_restricts_the_endpoints_before_they_are_grouped_by_zone()
    {
        var policy = new ServicePolicyOptions
        {
            Subsets = { ["v2"] = new Dictionary<string, string> { ["version"] = "v2" } },
            Routes = { new RouteOptions { Name = "canary", Destinations = { new RouteDestinationOptions { Subset = "v2", Weight = 100 } } } },
            LoadBalancer = { Locality = { Failover = ["zone-c"] } },
        };
        var model = ServiceModel.Build(new ServiceState("svc", _time), policy, _endpoints, "zone-a", _telemetry, _time, new SeededRandomSource(5));

        var destination = model.Routes[0].PickDestination(new SeededRandomSource(1));
        var locality = destination.Locality.ShouldNotBeNull();
        locality.Groups.Select(g => g.Endpoints.Select(e => e.Address.ToString()).ToArray()).ShouldBe(
        [
            ["http://10.0.0.1/"],
            ["http://10.0.2.1/"],
            ["http://10.0.1.1/"],
        ]);
    }

    [Fact]
    public void Attempts_outside_the_callers_zone_are_counted_by_zone()
    {
        using var crossZone = new MetricCollector<long>(_meters, MeshTelemetry.MeterName, "mesh.cross_zone.requests");
        var picker = (LocalityPicker)Picker();

        picker.OnAttempt(_endpoints[0]);
        picker.OnAttempt(_endpoints[3]);
        picker.OnAttempt(_endpoints[4]);
        picker.OnAttempt(_endpoints[6]);

        crossZone.Sum().ShouldBe(3);
        crossZone.Sum(t => t["destination_zone"] == "zone-b" && t["source_zone"] == "zone-a" && t["destination_service"] == "svc").ShouldBe(2);
        crossZone.Sum(t => t["destination_zone"] == "zone-c").ShouldBe(1);
    }

    [Fact]
    public void Picking_through_the_locality_layer_allocates_nothing()
    {
        var picker = Picker(new LocalityOptions { Failover = ["zone-b", "zone-c"] }, LoadBalancerPolicy.PeakEwma);
        var distribute = Picker(new LocalityOptions { Distribute = new Dictionary<string, int> { ["zone-a"] = 80, ["zone-b"] = 20 } });
        long Allocated()
        {
            for (var i = 0; i < 1000; i++)
            {
                picker.Pick(_request, null);
                picker.Pick(_request, _endpoints[0]);
                distribute.Pick(_request, null);
            }

            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                picker.Pick(_request, null);
                picker.Pick(_request, _endpoints[0]);
                distribute.Pick(_request, null);
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Allocated().ShouldBe(0);
        Eject(InZone("zone-a").First()); // the path that weighs the zones' health
        Allocated().ShouldBe(0);
    }

    public void Dispose()
    {
        _request.Dispose();
        _telemetry.Dispose();
        _meters.Dispose();
    }
}
