using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Mesh.Client.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Client.Tests;

/// <summary>
/// The mesh's span shape: one client span per logical call; the attempts that were retried are events on it, and the
/// last attempt's endpoint is on the span itself.
/// </summary>
public sealed class CallSpanTests
{
    [Fact]
    public async Task A_retried_call_is_one_span_with_an_event_per_retried_attempt()
    {
        var service = "spans" + Guid.NewGuid().ToString("N")[..8];
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MeshTelemetry.ActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var terminal = new SequenceHandler(HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK);
        await using var services = Build(service);
        using var invoker = new HttpMessageInvoker(services.GetRequiredService<MeshHandlerFactory>().CreateHandler(terminal, "spans-client"));

        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"http://{service}/items"));
        using var response = await invoker.SendAsync(request, CancellationToken.None);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var call = stopped.Where(a => a.OperationName == service).ShouldHaveSingleItem();
        call.Kind.ShouldBe(ActivityKind.Client);
        call.DisplayName.ShouldBe("POST " + service);
        call.GetTagItem("http.response.status_code").ShouldBe(200);
        call.GetTagItem("network.peer.address").ShouldBe("10.9.0.1");
        var retried = call.Events.ShouldHaveSingleItem();
        retried.Name.ShouldBe("mesh.attempt");
        var tags = retried.Tags.ToDictionary(t => t.Key, t => t.Value);
        tags["http.request.resend_count"].ShouldBe(0);
        tags["http.response.status_code"].ShouldBe(503);
        tags["network.peer.address"].ShouldBe("10.9.0.1");
        terminal.TraceParents.Count.ShouldBe(2);
        terminal.TraceParents.ShouldAllBe(t => t == MeshSpans.TraceParentOf(call));
    }

    [Theory]
    [InlineData("PURGE", "HTTP", "_OTHER", "PURGE")]
    [InlineData("get", "GET", "GET", "get")]
    [InlineData("OPTIONS", "OPTIONS", "OPTIONS", null)]
    public async Task A_method_outside_the_standard_set_is_other_and_its_spelling_kept_aside(
        string method, string namePrefix, string recorded, string? original)
    {
        var service = "spans" + Guid.NewGuid().ToString("N")[..8];
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MeshTelemetry.ActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var services = Build(service);
        using var invoker = new HttpMessageInvoker(services.GetRequiredService<MeshHandlerFactory>()
            .CreateHandler(new SequenceHandler(HttpStatusCode.OK), "spans-client"));

        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri($"http://{service}/items"));
        using var response = await invoker.SendAsync(request, CancellationToken.None);

        var call = stopped.Where(a => a.OperationName == service).ShouldHaveSingleItem();
        call.DisplayName.ShouldBe($"{namePrefix} {service}");
        call.GetTagItem("http.request.method").ShouldBe(recorded);
        call.GetTagItem("http.request.method_original").ShouldBe(original);
    }

    [Fact]
    public void The_traceparent_written_from_the_ids_is_the_one_the_w3c_propagator_writes()
    {
        using var source = new ActivitySource("Mesh.Client.Tests.TraceParent." + Guid.NewGuid().ToString("N"));
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s == source,
            Sample = static (ref ActivityCreationOptions<ActivityContext> o) =>
                o.Name == "unsampled" ? ActivitySamplingResult.PropagationData : ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);

        foreach (var name in new[] { "sampled", "unsampled" })
        {
            using var activity = source.StartActivity(name)!;
            string? written = null;
            DistributedContextPropagator.CreateW3CPropagator().Inject(activity, null, (_, key, value) =>
            {
                if (key == "traceparent")
                {
                    written = value;
                }
            });
            MeshSpans.TraceParentOf(activity).ShouldBe(written);
        }
    }

    private static ServiceProvider Build(string service)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"Mesh:Services:{service}:Endpoints:0:Address"] = "http://10.9.0.1:8080",
            [$"Mesh:Services:{service}:Routes:0:Name"] = "default",
            [$"Mesh:Services:{service}:Routes:0:Retry:Attempts"] = "2",
            [$"Mesh:Services:{service}:Routes:0:Retry:RetryOn:0"] = "5xx",
            [$"Mesh:Services:{service}:Routes:0:Retry:RetryNonIdempotent"] = "true",
            [$"Mesh:Services:{service}:Routes:0:Retry:BaseDelay"] = "00:00:00.001",
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddMeshClient();
        return services.BuildServiceProvider();
    }

    /// <summary>Answers the given status codes in turn and keeps the traceparent each request carried.</summary>
    private sealed class SequenceHandler(params HttpStatusCode[] statuses) : HttpMessageHandler
    {
        private int _next;

        public ConcurrentQueue<string> TraceParents { get; } = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Headers.TryGetValues("traceparent", out var values))
            {
                TraceParents.Enqueue(values.Single());
            }

            var status = statuses[Math.Min(Interlocked.Increment(ref _next) - 1, statuses.Length - 1)];
            return Task.FromResult(new HttpResponseMessage(status) { RequestMessage = request });
        }
    }
}
