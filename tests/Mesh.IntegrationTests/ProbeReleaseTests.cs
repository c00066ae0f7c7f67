using System.Diagnostics;
using System.Net;
using Mesh.Testing;

namespace Mesh.IntegrationTests;

/// <summary>
/// Tests that change process-wide state (<see cref="DistributedContextPropagator.Current"/>) run in this collection,
/// alone: xunit runs it after the parallel collections, so no other test sees the change.
/// </summary>
[CollectionDefinition(nameof(ProcessWideStateTests), DisableParallelization = true)]
public sealed class ProcessWideStateTests;

[Collection(nameof(ProcessWideStateTests))]
public sealed class ProbeReleaseTests
{
    [Fact]
    public async Task A_half_open_probe_that_fails_before_it_is_sent_is_released_for_the_next_call()
    {
        const string service = "res-probe";
        var time = new ManualTimeProvider();
        var failing = true;
        await using var backend = await TestBackend.StartAsync("probe", context =>
        {
            context.Response.StatusCode = Volatile.Read(ref failing) ? 500 : 200;
            return Task.CompletedTask;
        });
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new object[] { new { Address = backend.Address } },
                    Routes = new object[] { new { Name = "default", Retry = new { Attempts = 0 } } },
                    OutlierDetection = new { Consecutive5xxErrors = 0 },
                    CircuitBreaker = new { FailureRatio = 0.5, MinimumThroughput = 4, SamplingDuration = "00:00:10", BreakDuration = "00:00:05" },
                },
            },
        }, time);

        // Four failures in four attempts open the breaker.
        for (var i = 0; i < 4; i++)
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items"));
            response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        // The break is over. The next call takes the probe, then fails before it is sent: with a current span, the
        // mesh writes the trace context into the request, and this propagator throws.
        time.Advance(TimeSpan.FromSeconds(5.1));
        var propagator = DistributedContextPropagator.Current;
        DistributedContextPropagator.Current = new ThrowingPropagator();
        try
        {
            using var span = new Activity("probe-test").Start();
            var failure = await Should.ThrowAsync<Exception>(async () =>
            {
                using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items"));
            });
            failure.ToString().ShouldContain(ThrowingPropagator.Message); // this failure, not a refusal
        }
        finally
        {
            DistributedContextPropagator.Current = propagator;
        }

        backend.Requests.ShouldBe(4);

        // The endpoint was never asked, so the probe is free at once, not after another break: this call is the
        // probe, it succeeds, and the breaker closes.
        Volatile.Write(ref failing, false);
        for (var i = 0; i < 3; i++)
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items"));
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        backend.Requests.ShouldBe(7);
    }

    private sealed class ThrowingPropagator : DistributedContextPropagator
    {
        public override IReadOnlyCollection<string> Fields { get; } = ["traceparent"];

        public const string Message = "a propagator that fails, for the test";

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
