using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Mesh.Client.Telemetry;

namespace Mesh.Client.Tests.Http;

/// <summary>The span of a call the mesh answered itself, because it had nowhere to send it.</summary>
public sealed class NoHealthyUpstreamSpanTests
{
    [Fact]
    public async Task The_call_span_records_the_503_and_the_reason_as_an_error()
    {
        var service = "unsent" + Guid.NewGuid().ToString("N")[..8];
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MeshTelemetry.ActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        using var mesh = MeshUnderTest.Create(backend, service, ["v1"], new()
        {
            ["Subsets:v2:version"] = "v2",
            ["Routes:0:Name"] = "default",
            ["Routes:0:Destinations:0:Subset"] = "v2",
            ["Routes:0:Destinations:0:Weight"] = "100",
            ["Routes:0:Retry:Attempts"] = "0",
        });

        using var response = await mesh.GetAsync($"http://{service}/items");

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        var call = stopped.Where(a => a.OperationName == service).ShouldHaveSingleItem();
        call.GetTagItem("http.response.status_code").ShouldBe(503);
        call.Status.ShouldBe(ActivityStatusCode.Error);
        call.StatusDescription.ShouldBe($"Service '{service}' has no endpoint in subset 'v2'.");
        backend.Sent.ShouldBeEmpty();
    }
}
