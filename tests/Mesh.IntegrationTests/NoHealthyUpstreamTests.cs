using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Testing;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.IntegrationTests;

/// <summary>A call with nowhere to go answers 503 <c>no-healthy-upstream</c>, against real Kestrel backends.</summary>
public sealed class NoHealthyUpstreamTests
{
    [Fact]
    public async Task With_the_picked_subsets_breakers_open_a_call_answers_503_and_its_retries_never_leave_the_subset()
    {
        await using var failing = await TestBackend.StartAsync("v1", context =>
        {
            context.Response.StatusCode = 500;
            return Task.CompletedTask;
        });
        await using var healthy = await TestBackend.StartAsync("v2");
        var service = TrafficTests.UniqueName("unsent");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new object[]
                    {
                        new { failing.Address, Labels = new { version = "v1" } },
                        new { healthy.Address, Labels = new { version = "v2" } },
                    },
                    Subsets = new { v1 = new { version = "v1" }, v2 = new { version = "v2" } },
                    Routes = new object[]
                    {
                        new
                        {
                            Name = "default",
                            Destinations = new object[] { new { Subset = "v1", Weight = 100 } },
                            Retry = new { Attempts = 2, RetryOn = new[] { "5xx" }, BaseDelay = "00:00:00", MaxDelay = "00:00:00" },
                        },
                    },
                    OutlierDetection = new { Consecutive5xxErrors = 0 },
                    CircuitBreaker = new { FailureRatio = 0.5, MinimumThroughput = 2, BreakDuration = "00:05:00" },
                },
            },
        });
        using var requests = new MetricCollector<long>(mesh.GetService<IMeterFactory>(), "Mesh.Client", "mesh.requests");

        // Two 500s open v1's only breaker; the second retry has no endpoint left in v1 to go to.
        using (var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            response.Headers.GetValues("x-mesh-fault").ShouldBe(["no-healthy-upstream"]);
            (await response.Content.ReadAsStringAsync()).ShouldContain("circuit breaker");
            Should.Throw<HttpRequestException>(() => response.EnsureSuccessStatusCode()).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        }

        // While the breaker is open every attempt is refused unsent; v2 is healthy but never asked.
        using (var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            response.Headers.GetValues("x-mesh-fault").ShouldBe(["no-healthy-upstream"]);
        }

        failing.Requests.ShouldBe(2);
        healthy.Requests.ShouldBe(0);
        requests.Sum(t => t["destination_service"] == service && t["response_code"] == "503").ShouldBe(2);
    }

    [Fact]
    public async Task A_subset_without_endpoints_answers_503_naming_the_subset()
    {
        await using var backend = await TestBackend.StartAsync("v1");
        var service = TrafficTests.UniqueName("empty");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new object[] { new { backend.Address, Labels = new { version = "v1" } } },
                    Subsets = new { v2 = new { version = "v2" } },
                    Routes = new object[] { new { Name = "default", Destinations = new object[] { new { Subset = "v2", Weight = 100 } } } },
                },
            },
        });

        using var response = await mesh.Client.PostAsync(new Uri($"http://{service}/items"), new StringContent("{}"));

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        response.Headers.GetValues("x-mesh-fault").ShouldBe(["no-healthy-upstream"]);
        (await response.Content.ReadAsStringAsync()).ShouldBe($"Service '{service}' has no endpoint in subset 'v2'.");
        backend.Requests.ShouldBe(0);
    }
}
