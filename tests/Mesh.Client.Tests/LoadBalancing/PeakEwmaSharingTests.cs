using Mesh.Client.Internal;
using Mesh.Client.LoadBalancing;
using Mesh.Testing;
using Xunit.Abstractions;

namespace Mesh.Client.Tests.LoadBalancing;

public sealed class PeakEwmaSharingTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(5);

    private static EndpointState[] Endpoints(int n) =>
        [.. Enumerable.Range(0, n).Select(i => new EndpointState(new Uri($"http://10.0.0.{i + 1}:80"), new Dictionary<string, string>(), null))];

    /// <summary>
    /// A skewed latency: log-normal around <paramref name="medianMs"/>, and one request in 500 a blip 20 times as long
    /// (a pause, a slow disk), the same for every endpoint unless scaled.
    /// </summary>
    private static Func<EndpointState, double> Latency(RandomSource random, double medianMs, EndpointState? slow = null, double slowFactor = 1)
        => endpoint =>
        {
            var u1 = 1.0 - random.NextDouble();
            var u2 = random.NextDouble();
            var normal = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            var ms = medianMs * Math.Exp(0.5 * normal);
            if (random.NextDouble() < 0.002)
            {
                ms *= 20;
            }

            return endpoint == slow ? ms * slowFactor : ms;
        };

    private (List<Dictionary<EndpointState, int>> Windows, EndpointState[] Endpoints) Simulate(double medianMs, double slowFactor, int seed)
    {
        var time = new ManualTimeProvider();
        var endpoints = Endpoints(2);
        var picker = EndpointPicker.Create(new LoadBalancerOptions(), endpoints, new EjectionTracker(time), new SeededRandomSource(seed), time);
        var simulation = new LoadSimulation(picker, time, Latency(new SeededRandomSource(seed + 1), medianMs, endpoints[1], slowFactor));
        var windows = simulation.Run(TimeSpan.FromSeconds(120), Window);
        simulation.Drain();
        foreach (var w in windows)
        {
            output.WriteLine($"{Share(w, endpoints[0]):P0}");
        }

        return (windows, endpoints);
    }

    private static double Share(Dictionary<EndpointState, int> window, EndpointState endpoint) =>
        window.GetValueOrDefault(endpoint) / (double)window.Values.Sum();

    [Theory]
    [InlineData(1.0, 11)]   // mostly one request at a time: nothing in flight when the next is picked
    [InlineData(1.0, 12)]
    [InlineData(8.0, 13)]   // about four in flight
    [InlineData(8.0, 14)]
    public void Equal_endpoints_share_the_load_in_every_window(double medianMs, int seed)
    {
        var (windows, endpoints) = Simulate(medianMs, slowFactor: 1, seed);
        foreach (var w in windows)
        {
            Share(w, endpoints[0]).ShouldBeInRange(0.35, 0.65);
        }
    }

    [Theory]
    [InlineData(1.0, 21)]
    [InlineData(8.0, 22)]
    public void A_three_times_slower_endpoint_gets_clearly_less(double medianMs, int seed)
    {
        var (windows, endpoints) = Simulate(medianMs, slowFactor: 3, seed);
        var slow = windows.Sum(w => w.GetValueOrDefault(endpoints[1])) / (double)windows.Sum(w => w.Values.Sum());
        output.WriteLine($"slow share {slow:P1}");
        slow.ShouldBeLessThan(0.25);
        slow.ShouldBeGreaterThan(0, "the slower endpoint still gets some traffic");
    }

    private static (EndpointPicker Picker, EndpointState[] Endpoints, ManualTimeProvider Time) TwoAnswered(double fastMs, double slowMs)
    {
        var time = new ManualTimeProvider();
        var endpoints = Endpoints(2);
        var ms = time.TimestampFrequency / 1000.0;
        var now = time.GetTimestamp();
        endpoints[0].OnAttemptStarted();
        endpoints[0].OnAttemptCompleted(now - (long)(fastMs * ms), now, time.TimestampFrequency);
        endpoints[1].OnAttemptStarted();
        endpoints[1].OnAttemptCompleted(now - (long)(slowMs * ms), now, time.TimestampFrequency);
        var picker = EndpointPicker.Create(new LoadBalancerOptions(), endpoints, new EjectionTracker(time), new SeededRandomSource(3), time);
        return (picker, endpoints, time);
    }

    [Fact]
    public void An_idle_endpoint_is_tried_again_after_a_number_of_picks_without_any_time_passing()
    {
        // One 20 ms answer against 1 ms: each pick that passes the idle endpoint over fades its estimate by 1/32, so it
        // is cheaper again once passed over ln(20) / -ln(31/32) = 94.4 times, so the 96th pick takes it, however little
        // time the picks take.
        var (picker, endpoints, _) = TwoAnswered(fastMs: 1, slowMs: 20);
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://svc/");
        var first = -1;
        for (var i = 1; i <= 200 && first < 0; i++)
        {
            if (picker.Pick(request, null).Endpoint == endpoints[1])
            {
                first = i;
            }
        }

        first.ShouldBe(96);
    }

    [Fact]
    public void An_idle_endpoint_never_tried_is_tried_next_and_not_again_before_it_answers()
    {
        // One endpoint known at 0.5 ms, the other never answered: idle, the untried one costs nothing and takes the
        // next pick; with that request in flight it counts as the assumed 10 ms per request and the known one wins.
        var time = new ManualTimeProvider();
        var endpoints = Endpoints(2);
        var now = time.GetTimestamp();
        endpoints[0].OnAttemptStarted();
        endpoints[0].OnAttemptCompleted(now - (long)(0.5 * time.TimestampFrequency / 1000), now, time.TimestampFrequency);
        var picker = EndpointPicker.Create(new LoadBalancerOptions(), endpoints, new EjectionTracker(time), new SeededRandomSource(3), time);
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://svc/");

        picker.Pick(request, null).Endpoint.ShouldBe(endpoints[1]);
        endpoints[1].OnAttemptStarted();
        for (var i = 0; i < 50; i++)
        {
            picker.Pick(request, null).Endpoint.ShouldBe(endpoints[0]);
        }
    }

    [Fact]
    public void An_endpoint_with_requests_in_flight_does_not_fade()
    {
        // A stalled endpoint holding requests gets no answers; its estimate must not fade it back into favour, or it
        // would collect ever more requests. Its in-flight answers, or their failures, are what correct it.
        var (picker, endpoints, time) = TwoAnswered(fastMs: 1, slowMs: 20);
        endpoints[1].OnAttemptStarted();
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://svc/");
        for (var i = 0; i < 500; i++)
        {
            picker.Pick(request, null).Endpoint.ShouldBe(endpoints[0]);
            time.Advance(TimeSpan.FromMilliseconds(2));
        }
    }
}
