using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.IntegrationTests;

/// <summary>A service's <c>ConnectionPool</c> limits against a real Kestrel backend that holds its requests.</summary>
public sealed class ConnectionPoolTests
{
    [Fact]
    public async Task Five_calls_against_two_slots_and_one_place_in_the_queue_two_run_one_waits_and_two_overflow_at_once()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await TestBackend.StartAsync("held", async context =>
        {
            await release.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("held", context.RequestAborted);
        });
        var service = TrafficTests.UniqueName("pool");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new object[] { new { backend.Address } },
                    ConnectionPool = new { MaxRequests = 2, MaxPendingRequests = 1 },
                },
            },
        });
        using var overflows = new MetricCollector<long>(mesh.GetService<IMeterFactory>(), "Mesh.Client", "mesh.overflow");
        using var requests = new MetricCollector<long>(mesh.GetService<IMeterFactory>(), "Mesh.Client", "mesh.requests");

        var calls = Enumerable.Range(0, 5).Select(i => mesh.Client.GetAsync(new Uri($"http://{service}/items/{i}"))).ToArray();

        await Poll.UntilAsync(() => backend.Requests == 2 && calls.Count(c => c.IsCompleted) == 2, because: "two calls in flight and two answered");
        var answered = calls.Where(c => c.IsCompleted).ToArray();
        foreach (var call in answered)
        {
            using var response = await call;
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            response.Headers.GetValues("x-mesh-fault").ShouldBe(["overflow"]);
        }

        backend.Requests.ShouldBe(2); // the fifth call waits in the mesh, not at the backend
        overflows.Sum(t => t["destination_service"] == service).ShouldBe(2);

        // The two calls in flight finish; the waiting one gets a slot and completes too.
        release.SetResult();
        foreach (var call in calls.Except(answered))
        {
            using var response = await call;
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await response.Content.ReadAsStringAsync()).ShouldBe("held");
        }

        backend.Requests.ShouldBe(3);
        requests.Sum(t => t["destination_service"] == service && t["response_code"] == "503").ShouldBe(2);
        requests.Sum(t => t["destination_service"] == service && t["response_code"] == "200").ShouldBe(3);
    }
}
