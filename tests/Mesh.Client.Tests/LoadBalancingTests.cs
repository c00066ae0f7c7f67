using System.Diagnostics.Metrics;
using Mesh.Client.Internal;
using Mesh.Client.LoadBalancing;
using Mesh.Client.OutlierDetection;
using Mesh.Client.Telemetry;
using Mesh.Testing;

namespace Mesh.Client.Tests;

public sealed class LoadBalancingTests
{
    private static EndpointState[] Endpoints(int n) =>
        [.. Enumerable.Range(0, n).Select(i => new EndpointState(new Uri($"http://10.0.0.{i + 1}:80"), new Dictionary<string, string>(), null))];

    private static readonly HttpRequestMessage Request = new(HttpMethod.Get, "http://svc/");

    private static EndpointPicker Picker(LoadBalancerPolicy policy, EndpointState[] endpoints, TimeProvider? time = null, string? header = null) =>
        EndpointPicker.Create(new LoadBalancerOptions { Policy = policy, HashHeader = header }, endpoints,
            new EjectionTracker(time ?? new ManualTimeProvider()), new SeededRandomSource(7), time ?? new ManualTimeProvider());

    [Fact]
    public void Round_robin_visits_every_endpoint_in_turn()
    {
        var endpoints = Endpoints(4);
        var picker = Picker(LoadBalancerPolicy.RoundRobin, endpoints);
        var counts = endpoints.ToDictionary(e => e, _ => 0);
        for (var i = 0; i < 400; i++)
        {
            counts[picker.Pick(Request, null).Endpoint!]++;
        }

        counts.Values.ShouldAllBe(c => c == 100);
    }

    [Theory]
    [InlineData(LoadBalancerPolicy.RoundRobin)]
    [InlineData(LoadBalancerPolicy.Random)]
    [InlineData(LoadBalancerPolicy.LeastRequest)]
    [InlineData(LoadBalancerPolicy.PeakEwma)]
    public void A_retry_avoids_the_previous_endpoint_when_another_exists(LoadBalancerPolicy policy)
    {
        var endpoints = Endpoints(3);
        var picker = Picker(policy, endpoints);
        for (var i = 0; i < 100; i++)
        {
            picker.Pick(Request, endpoints[1]).Endpoint.ShouldNotBe(endpoints[1]);
        }

        var single = Picker(policy, [endpoints[0]]);
        single.Pick(Request, endpoints[0]).Endpoint.ShouldBe(endpoints[0]);
    }

    [Fact]
    public void An_empty_set_picks_nothing() => Picker(LoadBalancerPolicy.RoundRobin, []).Pick(Request, null).Endpoint.ShouldBeNull();

    [Fact]
    public void Least_request_prefers_the_endpoint_with_fewer_requests_in_flight()
    {
        var endpoints = Endpoints(2);
        for (var i = 0; i < 5; i++)
        {
            endpoints[0].OnAttemptStarted();
        }

        var picker = Picker(LoadBalancerPolicy.LeastRequest, endpoints);
        for (var i = 0; i < 50; i++)
        {
            picker.Pick(Request, null).Endpoint.ShouldBe(endpoints[1]);
        }
    }

    [Fact]
    public void Peak_ewma_prefers_the_faster_endpoint_and_reacts_to_a_slow_peak_at_once()
    {
        var time = new ManualTimeProvider();
        var endpoints = Endpoints(2);
        var frequency = time.TimestampFrequency;
        var ms = time.TimestampFrequency / 1000;
        var now = time.GetTimestamp();
        endpoints[0].OnAttemptStarted();
        endpoints[0].OnAttemptCompleted(now - (2 * ms), now, frequency);
        endpoints[1].OnAttemptStarted();
        endpoints[1].OnAttemptCompleted(now - (20 * ms), now, frequency);

        var picker = Picker(LoadBalancerPolicy.PeakEwma, endpoints, time);
        for (var i = 0; i < 50; i++)
        {
            picker.Pick(Request, null).Endpoint.ShouldBe(endpoints[0]);
        }

        // One slow response makes the fast endpoint's estimate jump (peak sensitivity).
        endpoints[0].OnAttemptStarted();
        endpoints[0].OnAttemptCompleted(now - (100 * ms), now, frequency);
        picker.Pick(Request, null).Endpoint.ShouldBe(endpoints[1]);
    }

    [Fact]
    public void Ring_hash_keeps_a_key_on_its_endpoint_and_moves_few_keys_when_one_endpoint_goes()
    {
        var endpoints = Endpoints(10);
        var ring = Picker(LoadBalancerPolicy.RingHash, endpoints, header: "x-user");
        var smaller = Picker(LoadBalancerPolicy.RingHash, endpoints.Where((_, i) => i != 3).ToArray(), header: "x-user");
        var moved = 0;
        const int keys = 5000;
        for (var k = 0; k < keys; k++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "http://svc/");
            request.Headers.Add("x-user", $"user-{k}");
            var first = ring.Pick(request, null).Endpoint;
            ring.Pick(request, null).Endpoint.ShouldBe(first);
            var after = smaller.Pick(request, null).Endpoint;
            if (after != first)
            {
                moved++;
                first.ShouldBe(endpoints[3], "only the removed endpoint's keys may move");
            }
        }

        (moved / (double)keys).ShouldBeLessThanOrEqualTo(0.15);
        moved.ShouldBeGreaterThan(0);
    }

    [Fact]
    public void Ring_hash_is_the_same_in_every_process()
    {
        // A fixed value: if this changes, clients of different versions would disagree on where a key lives.
        // The expected values were computed independently of this code (FNV-1a 64 + MurmurHash3 fmix64).
        StableHash.Hash("user-1").ShouldBe(0x41a2fca5c68401c5UL);
        StableHash.Hash("http://10.0.0.1:80#0").ShouldBe(0xf70de4a415bd2014UL);
        StableHash.Hash("user-1").ShouldNotBe(StableHash.Hash("user-2"));
    }
}

public sealed class OutlierDetectionTests
{
    private static (OutlierDetector Detector, EndpointState[] Endpoints, EjectionTracker Tracker, ManualTimeProvider Time) Setup(
        int endpoints, OutlierDetectionOptions options)
    {
        var time = new ManualTimeProvider();
        var tracker = new EjectionTracker(time);
        var eps = Enumerable.Range(0, endpoints)
            .Select(i => new EndpointState(new Uri($"http://10.0.0.{i + 1}:80"), new Dictionary<string, string>(), null)).ToArray();
        var telemetry = new MeshTelemetry(new TestMeterFactory());
        return (new OutlierDetector(options, eps, tracker, telemetry, "svc"), eps, tracker, time);
    }

    [Fact]
    public void Consecutive_errors_eject_and_a_success_resets_the_count()
    {
        var (detector, eps, _, time) = Setup(10, new OutlierDetectionOptions { Consecutive5xxErrors = 3 });
        detector.Report(eps[0], 500);
        detector.Report(eps[0], 500);
        detector.Report(eps[0], 200);
        detector.Report(eps[0], 500);
        detector.Report(eps[0], 500);
        eps[0].IsEjected(time.GetTimestamp()).ShouldBeFalse();
        detector.Report(eps[0], 503);
        eps[0].IsEjected(time.GetTimestamp()).ShouldBeTrue();
    }

    [Fact]
    public void Ejection_time_grows_with_each_ejection()
    {
        var (detector, eps, _, time) = Setup(10, new OutlierDetectionOptions { Consecutive5xxErrors = 1, BaseEjectionTime = TimeSpan.FromSeconds(30) });
        detector.Report(eps[0], 0);
        time.Advance(TimeSpan.FromSeconds(29));
        eps[0].IsEjected(time.GetTimestamp()).ShouldBeTrue();
        time.Advance(TimeSpan.FromSeconds(1));
        eps[0].IsEjected(time.GetTimestamp()).ShouldBeFalse();

        detector.Report(eps[0], 502);
        time.Advance(TimeSpan.FromSeconds(59));
        eps[0].IsEjected(time.GetTimestamp()).ShouldBeTrue("the second ejection lasts twice the base time");
        time.Advance(TimeSpan.FromSeconds(1));
        eps[0].IsEjected(time.GetTimestamp()).ShouldBeFalse();
        eps[0].EjectionCount.ShouldBe(2);
    }

    [Fact]
    public void At_most_max_ejection_percent_are_out_but_always_at_least_one()
    {
        var (detector, eps, _, time) = Setup(3, new OutlierDetectionOptions { Consecutive5xxErrors = 1, MaxEjectionPercent = 10 });
        detector.Report(eps[0], 500);
        detector.Report(eps[1], 500);
        var now = time.GetTimestamp();
        eps[0].IsEjected(now).ShouldBeTrue("one endpoint is always ejectable");
        eps[1].IsEjected(now).ShouldBeFalse("10% of 3 endpoints allows no second ejection");
    }

    [Fact]
    public void Zero_consecutive_errors_turns_ejection_off_and_gateway_errors_count_separately()
    {
        var (detector, eps, _, time) = Setup(10, new OutlierDetectionOptions { Consecutive5xxErrors = 0, ConsecutiveGatewayErrors = 2 });
        detector.Report(eps[0], 500);
        detector.Report(eps[0], 500);
        detector.Report(eps[0], 500);
        eps[0].IsEjected(time.GetTimestamp()).ShouldBeFalse("500 is not a gateway error");
        detector.Report(eps[0], 504);
        detector.Report(eps[0], 0);
        eps[0].IsEjected(time.GetTimestamp()).ShouldBeTrue();
    }

    [Fact]
    public void Pickers_skip_ejected_endpoints_until_too_few_are_healthy()
    {
        var (detector, eps, tracker, time) = Setup(4, new OutlierDetectionOptions { Consecutive5xxErrors = 1, MaxEjectionPercent = 100 });
        var picker = EndpointPicker.Create(new LoadBalancerOptions { Policy = LoadBalancerPolicy.RoundRobin }, eps, tracker, new SeededRandomSource(1), time);
        detector.Report(eps[0], 500);
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://svc/");
        for (var i = 0; i < 40; i++)
        {
            picker.Pick(request, null).Endpoint.ShouldNotBe(eps[0]);
        }

        // Three of four ejected: 25% healthy is below the 50% panic threshold, so all take traffic again.
        detector.Report(eps[1], 500);
        detector.Report(eps[2], 500);
        var seen = new HashSet<EndpointState>();
        for (var i = 0; i < 40; i++)
        {
            seen.Add(picker.Pick(request, null).Endpoint!);
        }

        seen.Count.ShouldBe(4);
        time.Advance(TimeSpan.FromSeconds(31));
        tracker.TryGetActive(out _).ShouldBeFalse();
    }
}

internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options.Name, options.Version, options.Tags, this);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose() => _meters.ForEach(m => m.Dispose());
}

public sealed class RoundRobinFairnessTests
{
    [Fact]
    public void Round_robin_shares_an_ejected_endpoints_turns_evenly_among_the_rest()
    {
        var time = new ManualTimeProvider();
        var tracker = new EjectionTracker(time);
        var eps = Enumerable.Range(0, 3)
            .Select(i => new EndpointState(new Uri($"http://10.0.0.{i + 1}:80"), new Dictionary<string, string>(), null)).ToArray();
        var detector = new OutlierDetector(new OutlierDetectionOptions { Consecutive5xxErrors = 1, MaxEjectionPercent = 50 }, eps, tracker,
            new MeshTelemetry(new TestMeterFactory()), "svc");
        detector.Report(eps[1], 503);
        var picker = EndpointPicker.Create(new LoadBalancerOptions { Policy = LoadBalancerPolicy.RoundRobin }, eps, tracker, new SeededRandomSource(1), time);
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://svc/");
        var counts = new Dictionary<EndpointState, int>();
        for (var i = 0; i < 1000; i++)
        {
            var e = picker.Pick(request, null).Endpoint!;
            counts[e] = counts.GetValueOrDefault(e) + 1;
        }

        counts.ContainsKey(eps[1]).ShouldBeFalse();
        counts[eps[0]].ShouldBe(500);
        counts[eps[2]].ShouldBe(500);
    }
}

public sealed class PeakEwmaFailureTests
{
    [Fact]
    public void A_refused_connection_makes_an_endpoint_expensive_not_cheap()
    {
        var time = new ManualTimeProvider();
        var eps = Enumerable.Range(0, 2)
            .Select(i => new EndpointState(new Uri($"http://10.0.0.{i + 1}:80"), new Dictionary<string, string>(), null)).ToArray();
        var frequency = time.TimestampFrequency;
        var now = time.GetTimestamp();
        eps[0].OnAttemptStarted();
        eps[0].OnAttemptCompleted(now - (time.TimestampFrequency / 500), now, frequency); // a 2 ms answer
        eps[1].OnAttemptStarted();
        eps[1].OnAttemptFailed(now, now, frequency);             // refused at once

        var picker = EndpointPicker.Create(new LoadBalancerOptions(), eps, new EjectionTracker(time), new SeededRandomSource(3), time);
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://svc/");
        for (var i = 0; i < 50; i++)
        {
            picker.Pick(request, null).Endpoint.ShouldBe(eps[0]);
        }
    }
}
