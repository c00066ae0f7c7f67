using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Mesh.IntegrationTests.Observability;

/// <summary>
/// Three meshed apps, A → B → C, on real sockets: one trace, each hop's server span a child of the caller's call span
/// (the mesh makes one span per logical call), and the caller's tracestate and baggage arrive at the last hop.
/// </summary>
[Collection(TracesRunAlone.Name)]
public sealed class TraceTests
{
    private const string AspNetCoreSource = "Microsoft.AspNetCore";

    [Fact]
    public async Task Three_hops_make_one_trace_seen_by_an_activity_listener()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Mesh.Client" or AspNetCoreSource,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        await RunThreeHopsAsync(stopped);
    }

    [Fact]
    public async Task Three_hops_make_one_trace_seen_by_the_opentelemetry_sdk()
    {
        var exported = new ExportedItems<Activity>();
        using var tracerProvider = Sdk.CreateTracerProviderBuilder()
            .AddSource("Mesh.Client", AspNetCoreSource)
            .SetSampler(new AlwaysOnSampler())
            .AddInMemoryExporter(exported)
            .Build();

        var queue = new ConcurrentQueue<Activity>();
        await RunThreeHopsAsync(queue, exported.Snapshot);
    }

    private static async Task RunThreeHopsAsync(ConcurrentQueue<Activity> stopped, Func<List<Activity>>? read = null)
    {
        read ??= () => [.. stopped];
        var seenAtC = new ConcurrentQueue<(string? TraceState, string? Baggage, string? TraceId)>();
        var servers = new ConcurrentDictionary<string, ActivitySpanId>();
        await using var c = await MeshApp.StartAsync(new() { ["Mesh:Service:Name"] = "c" }, app => app.MapGet("/c", (HttpContext ctx) =>
        {
            servers["c"] = Activity.Current!.SpanId;
            seenAtC.Enqueue((Activity.Current.TraceStateString, Activity.Current.GetBaggageItem("user"), Activity.Current.TraceId.ToHexString()));
            return "from c";
        }));
        await using var b = await MeshApp.StartAsync(new() { ["Mesh:Service:Name"] = "b", ["Mesh:Services:c:Endpoints:0:Address"] = c.Address.ToString() },
            app => app.MapGet("/b", async (IHttpClientFactory factory) =>
            {
                servers["b"] = Activity.Current!.SpanId;
                return await factory.CreateClient("mesh").GetStringAsync(new Uri("http://c/c"));
            }));
        await using var a = await MeshApp.StartAsync(new() { ["Mesh:Service:Name"] = "a", ["Mesh:Services:b:Endpoints:0:Address"] = b.Address.ToString() },
            app => app.MapGet("/a", async (IHttpClientFactory factory) =>
            {
                servers["a"] = Activity.Current!.SpanId;
                return await factory.CreateClient("mesh").GetStringAsync(new Uri("http://b/b"));
            }));

        // The edge caller: a trace of its own with vendor state and baggage, written as W3C headers.
        var traceId = ActivityTraceId.CreateRandom();
        var rootSpan = ActivitySpanId.CreateRandom();
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/a", UriKind.Relative)))
        {
            request.Headers.Add("traceparent", $"00-{traceId.ToHexString()}-{rootSpan.ToHexString()}-01");
            request.Headers.Add("tracestate", "vendor=opaque-value");
            request.Headers.Add("baggage", "user=alice");
            using var response = await a.Client.SendAsync(request);
            response.EnsureSuccessStatusCode();
            (await response.Content.ReadAsStringAsync()).ShouldBe("from c");
        }

        seenAtC.Single().ShouldBe(("vendor=opaque-value", "alice", traceId.ToHexString()));

        List<Activity> spans = [];
        await Poll.UntilAsync(() =>
        {
            spans = read().Where(s => s.TraceId == traceId).ToList();
            return spans.Count(s => s.Source.Name == AspNetCoreSource) == 3 && spans.Count(s => s.Source.Name == "Mesh.Client") >= 2;
        }, because: "three server spans, and a call span for each of the two mesh calls");
        spans.Count(s => s.Source.Name == "Mesh.Client").ShouldBe(2, "one span per call: no attempt span without a retry");

        Activity Span(ActivitySpanId id) => spans.Single(s => s.SpanId == id);
        var aServer = Span(servers["a"]);
        var bServer = Span(servers["b"]);
        var cServer = Span(servers["c"]);
        aServer.ParentSpanId.ShouldBe(rootSpan);

        var aCall = spans.Single(s => s.Kind == ActivityKind.Client && Equals(s.GetTagItem("server.address"), "b"));
        var bCall = spans.Single(s => s.Kind == ActivityKind.Client && Equals(s.GetTagItem("server.address"), "c"));

        // A.client → B.server → B.client → C.server.
        aCall.ParentSpanId.ShouldBe(aServer.SpanId);
        bServer.ParentSpanId.ShouldBe(aCall.SpanId);
        bCall.ParentSpanId.ShouldBe(bServer.SpanId);
        cServer.ParentSpanId.ShouldBe(bCall.SpanId);

        // OpenTelemetry HTTP conventions, and the mesh's own attributes.
        aCall.GetTagItem("http.request.method").ShouldBe("GET");
        aCall.GetTagItem("http.response.status_code").ShouldBe(200);
        aCall.GetTagItem("url.full").ShouldBe("http://b/b");
        aCall.GetTagItem("server.address").ShouldBe("b");
        aCall.GetTagItem("server.port").ShouldBe(80);
        aCall.GetTagItem("mesh.route").ShouldNotBeNull();
        aCall.GetTagItem("network.peer.address").ShouldBe("127.0.0.1");
        aCall.Events.ShouldBeEmpty("attempt events are only for attempts that were retried");
    }
}

/// <summary>Activity listeners are process-wide: the trace tests run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class TracesRunAlone
{
    public const string Name = "Trace tests";
}
