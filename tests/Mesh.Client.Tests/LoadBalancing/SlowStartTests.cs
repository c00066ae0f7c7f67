using Mesh.Client.Internal;
using Mesh.Client.LoadBalancing;
using Mesh.Client.OutlierDetection;
using Mesh.Client.Runtime;
using Mesh.Client.Telemetry;
using Mesh.Testing;
using Xunit.Abstractions;

namespace Mesh.Client.Tests.LoadBalancing;

public sealed class SlowStartTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(100);
    private static readonly HttpRequestMessage Request = new(HttpMethod.Get, "http://svc/");

    private static DiscoveredEndpointList Discovered(int n) => new(n);

    /// <summary>A service's state as the runtime keeps it: two endpoints at start, a third that joins later.</summary>
    private sealed class Service
    {
        public Service(ManualTimeProvider time)
        {
            Time = time;
            State = new ServiceState("svc", time);
            Original = State.ResolveEndpoints(Discovered(2));
        }

        public ManualTimeProvider Time { get; }

        public ServiceState State { get; }

        public EndpointState[] Original { get; }

        public EndpointState[] AddThird() => State.ResolveEndpoints(Discovered(3));

        public EndpointPicker Picker(LoadBalancerPolicy policy, EndpointState[] endpoints, SlowStartOptions? slowStart, int seed = 5) =>
            EndpointPicker.Create(new LoadBalancerOptions { Policy = policy, SlowStart = slowStart }, endpoints, State.Ejections,
                new SeededRandomSource(seed), Time, State.SlowStart);
    }

    private static double ShareOf(EndpointPicker picker, EndpointState endpoint, int picks)
    {
        var hits = 0;
        for (var i = 0; i < picks; i++)
        {
            if (picker.Pick(Request, null).Endpoint == endpoint)
            {
                hits++;
            }
        }

        return hits / (double)picks;
    }

    /// <summary>Envoy's weight: max(min weight, (time in window / window)^(1 / aggression)).</summary>
    private static double Weight(double fraction, double aggression, double minWeight) =>
        Math.Max(minWeight, Math.Pow(fraction, 1 / aggression));

    [Theory]
    [InlineData(LoadBalancerPolicy.RoundRobin, 1.0)]
    [InlineData(LoadBalancerPolicy.RoundRobin, 2.0)]
    [InlineData(LoadBalancerPolicy.Random, 1.0)]
    [InlineData(LoadBalancerPolicy.Random, 0.5)]
    public void A_new_endpoint_gets_its_weights_share_along_the_ramp(LoadBalancerPolicy policy, double aggression)
    {
        var service = new Service(new ManualTimeProvider());
        var endpoints = service.AddThird();
        var added = endpoints[2];
        var picker = service.Picker(policy, endpoints, new SlowStartOptions { Window = Window, Aggression = aggression });
        var elapsed = 0.0;
        foreach (var fraction in new[] { 0.1, 0.5, 1.0 })
        {
            service.Time.Advance(Window * (fraction - elapsed));
            elapsed = fraction;
            var weight = fraction >= 1 ? 1 : Weight(fraction, aggression, 0.1);
            var expected = weight / (weight + 2);
            var share = ShareOf(picker, added, 20_000);
            output.WriteLine($"{fraction:P0} of the window: share {share:P2}, expected {expected:P2}");
            share.ShouldBe(expected, 0.01);
        }
    }

    [Fact]
    public void The_minimum_weight_holds_at_the_start_of_the_ramp()
    {
        var service = new Service(new ManualTimeProvider());
        var endpoints = service.AddThird();
        var picker = service.Picker(LoadBalancerPolicy.RoundRobin, endpoints,
            new SlowStartOptions { Window = Window, MinWeightPercent = 25 });

        ShareOf(picker, endpoints[2], 20_000).ShouldBe(0.25 / 2.25, 0.01);
    }

    [Theory]
    [InlineData(LoadBalancerPolicy.RoundRobin)]
    [InlineData(LoadBalancerPolicy.Random)]
    [InlineData(LoadBalancerPolicy.LeastRequest)]
    [InlineData(LoadBalancerPolicy.PeakEwma)]
    public void Endpoints_present_at_start_and_services_without_slow_start_get_their_share_at_once(LoadBalancerPolicy policy)
    {
        var service = new Service(new ManualTimeProvider());
        var original = service.Picker(policy, service.Original, new SlowStartOptions { Window = Window });
        ShareOf(original, service.Original[0], 10_000).ShouldBe(0.5, 0.03);

        var endpoints = service.AddThird();
        var without = service.Picker(policy, endpoints, slowStart: null);
        ShareOf(without, endpoints[2], 10_000).ShouldBe(1 / 3.0, 0.03);
    }

    [Theory]
    [InlineData(LoadBalancerPolicy.LeastRequest)]
    [InlineData(LoadBalancerPolicy.PeakEwma)]
    public void Two_choice_pickers_ramp_a_new_endpoint_up_under_traffic(LoadBalancerPolicy policy)
    {
        // Equal endpoints under simulated traffic: the new one's cost is divided by its weight, so it gets less than its
        // third early in the window, more as the weight grows, and its full share once the window is over. A divided
        // cost is a threshold, not a proportion: at a small weight the new endpoint wins a pair only when the other
        // is loaded enough, which this light traffic seldom is.
        var time = new ManualTimeProvider();
        var service = new Service(time);
        var latency = new SeededRandomSource(9);
        var simulation = new LoadSimulation(service.Picker(policy, service.Original, new SlowStartOptions { Window = Window }), time,
            _ => 4 + (4 * latency.NextDouble()));
        simulation.Run(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));

        var endpoints = service.AddThird();
        simulation.Picker = service.Picker(policy, endpoints, new SlowStartOptions { Window = Window });
        var windows = simulation.Run(Window * 1.2, Window / 10);
        simulation.Drain();
        var shares = windows.Select(w => w.GetValueOrDefault(endpoints[2]) / (double)w.Values.Sum()).ToList();
        output.WriteLine(string.Join(" ", shares.Select(s => s.ToString("P1", System.Globalization.CultureInfo.InvariantCulture))));

        shares[0].ShouldBeLessThan(0.05, "in the first tenth of the window");
        shares[4].ShouldBeInRange(0.05, 0.30, "half way through the window");
        shares[8].ShouldBeGreaterThan(shares[4]);
        shares[^1].ShouldBe(1 / 3.0, 0.03, "after the window");
    }

    [Fact]
    public void An_endpoint_back_from_ejection_ramps_up_again()
    {
        var time = new ManualTimeProvider();
        var service = new Service(time);
        var endpoints = service.AddThird();
        var picker = service.Picker(LoadBalancerPolicy.RoundRobin, endpoints, new SlowStartOptions { Window = Window });
        time.Advance(Window);
        ShareOf(picker, endpoints[0], 9_000).ShouldBe(1 / 3.0, 0.01);

        var detector = new OutlierDetector(new OutlierDetectionOptions { Consecutive5xxErrors = 1, BaseEjectionTime = TimeSpan.FromSeconds(30) },
            endpoints, service.State.Ejections, new MeshTelemetry(new TestMeterFactory()), "svc", service.State.SlowStart);
        detector.Report(endpoints[0], 503);
        ShareOf(picker, endpoints[0], 1_000).ShouldBe(0.0, "ejected");

        time.Advance(TimeSpan.FromSeconds(30) + (Window / 2));
        ShareOf(picker, endpoints[0], 20_000).ShouldBe(0.5 / 2.5, 0.01);
        time.Advance(Window / 2);
        ShareOf(picker, endpoints[0], 9_000).ShouldBe(1 / 3.0, 0.01);
    }

    /// <summary>Discovered endpoints http://10.0.0.1:80 … as a registry or the configuration would list them.</summary>
    private sealed class DiscoveredEndpointList(int count) : List<Mesh.Client.Discovery.DiscoveredEndpoint>(
        Enumerable.Range(0, count).Select(i => new Mesh.Client.Discovery.DiscoveredEndpoint(new Uri($"http://10.0.0.{i + 1}:80"), new Dictionary<string, string>(), null)));
}
