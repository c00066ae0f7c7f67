using System.Diagnostics;
using System.Net;

namespace Mesh.Client.Tests.Http;

[Collection(nameof(ProcessWideStateTests))]
public sealed class ProbeReleaseTests
{
    [Fact]
    public async Task A_half_open_probe_that_fails_before_it_is_sent_is_released_for_the_next_call()
    {
        var failing = true;
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(Volatile.Read(ref failing) ? 500 : 200));
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], new()
        {
            ["Routes:0:Name"] = "default",
            ["Routes:0:Retry:Attempts"] = "0",
            ["OutlierDetection:Consecutive5xxErrors"] = "0",
            ["CircuitBreaker:FailureRatio"] = "0.5",
            ["CircuitBreaker:MinimumThroughput"] = "4",
            ["CircuitBreaker:SamplingDuration"] = "00:00:10",
            ["CircuitBreaker:BreakDuration"] = "00:00:05",
        });

        // Four failures in four attempts open the breaker; during the break a call is refused unsent.
        for (var i = 0; i < 4; i++)
        {
            using var response = await mesh.GetAsync("http://reviews/items");
            response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        using (var refused = await mesh.GetAsync("http://reviews/items"))
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            refused.Headers.GetValues("x-mesh-fault").ShouldBe(["no-healthy-upstream"]);
        }

        // The break is over. The next call takes the probe, then fails before it is sent: with a current span, the
        // mesh writes the trace context into the request, and this propagator throws.
        mesh.Time.Advance(TimeSpan.FromSeconds(5.1));
        var propagator = DistributedContextPropagator.Current;
        DistributedContextPropagator.Current = new ThrowingPropagator();
        try
        {
            using var span = new Activity("probe-test").Start();
            var failure = await Should.ThrowAsync<InvalidOperationException>(() => mesh.GetAsync("http://reviews/items"));
            failure.Message.ShouldBe(ThrowingPropagator.Message); // this failure, not a refusal
        }
        finally
        {
            DistributedContextPropagator.Current = propagator;
        }

        backend.Sent.Count.ShouldBe(4);

        // The endpoint was never asked, so the probe is free at once, not after another break: this call is the
        // probe, it succeeds, and the breaker closes.
        Volatile.Write(ref failing, false);
        for (var i = 0; i < 3; i++)
        {
            using var response = await mesh.GetAsync("http://reviews/items");
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        backend.Sent.Count.ShouldBe(7);
    }

    private sealed class ThrowingPropagator : DistributedContextPropagator
    {
        public const string Message = "a propagator that fails, for the test";

        public override IReadOnlyCollection<string> Fields { get; } = ["traceparent"];

        public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter) =>
            throw new InvalidOperationException(Message);

        public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState)
        {
            traceId = null;
            traceState = null;
        }

        public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) => null;
    }
}
