using System.Net;
using System.Text;
using System.Text.Json;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests;

/// <summary>
/// Automatic canary analysis end to end: a real registry, reviews apps of three versions and a caller, all registered
/// and renewing their leases with their traffic numbers; the registry moves the route's weights, judges each step on
/// those numbers, and promotes a good version and rolls back a bad one.
/// </summary>
[Collection(nameof(RolloutTests))]
[CollectionDefinition(nameof(RolloutTests), DisableParallelization = true)]
public sealed class RolloutTests
{
    private static readonly string[] Services = ["reviews", "productpage"];

    // Renewals (with the traffic numbers) every second, so that a step's window of two seconds sees some.
    private static readonly Dictionary<string, string?> FastRenewals = new() { ["Mesh:Registry:TtlSeconds"] = "3" };

    private const string Policy = """
        { "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" }, "v3": { "version": "v3" } },
          "OutlierDetection": { "Consecutive5xxErrors": 0 },
          "Routes": [ { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": 100 } ], "Retry": { "Attempts": 0 } } ] }
        """;

    [Fact]
    public async Task A_good_version_is_promoted_step_by_step_and_a_bad_one_rolled_back_at_its_first_step()
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        var servedByV3 = new ServedCounter();
        await using var v1 = await StartReviewsAsync(registry, "v1", failEvery: 0, new ServedCounter());
        await using var v2 = await StartReviewsAsync(registry, "v2", failEvery: 0, new ServedCounter());
        await using var v3 = await StartReviewsAsync(registry, "v3", failEvery: 5, servedByV3); // a bad build: every fifth answer a 500
        await using var productpage = await registry.StartAppAsync("productpage", "v1", _ => { }, extra: FastRenewals);
        var client = productpage.Services.GetRequiredService<IHttpClientFactory>().CreateClient("reviews");
        using var admin = registry.Admin;

        using (var put = await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Json(Policy)))
        {
            put.StatusCode.ShouldBe(HttpStatusCode.OK, await put.Content.ReadAsStringAsync());
        }

        await Poll.UntilAsync(async () => await AnswerAsync(client) == "reviews:v1", TimeSpan.FromSeconds(30), "the caller routing by the policy");

        // Users' traffic, steady, for the whole test: the registry judges the canary on what this caller reports.
        using var stop = new CancellationTokenSource();
        var traffic = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await AnswerAsync(client);
                await Task.Delay(10, CancellationToken.None);
            }
        });

        try
        {
            // Good: v2 never fails; each step passes once it has its requests, and the last promotes it.
            var good = await RunRolloutAsync(admin, """
                { "Route": "default", "Stable": "v1", "Canary": "v2", "Steps": [ 50, 100 ], "StepInterval": "00:00:02",
                  "Analysis": { "MinSuccessRate": 99.0, "MaxP99Ms": 5000, "MinRequests": 5 } }
                """);
            State(good).ShouldBe("Succeeded", good.ToString());
            var passed = Decisions(good).Where(d => d.GetProperty("verdict").GetString() == "Passed").ToList();
            passed.Select(d => d.GetProperty("weight").GetInt32()).ShouldBe([50, 100]);
            foreach (var decision in passed)
            {
                var canary = decision.GetProperty("canary");
                canary.GetProperty("requests").GetInt64().ShouldBeGreaterThanOrEqualTo(5);
                canary.GetProperty("successRate").GetDouble().ShouldBe(100);
            }

            Decisions(good).ShouldNotContain(d => d.GetProperty("verdict").GetString() == "Failed");
            (await RouteAsync(admin)).ShouldBe("v2:100");
            await Poll.UntilAsync(async () => await AnswerAsync(client) == "reviews:v2" && await AnswerAsync(client) == "reviews:v2",
                TimeSpan.FromSeconds(30), "the caller sending everything to v2");

            // Bad: one in five of v3's answers fails, the caller reports it, and the first step rolls it back.
            var bad = await RunRolloutAsync(admin, """
                { "Route": "default", "Stable": "v2", "Canary": "v3", "Steps": [ 20, 100 ], "StepInterval": "00:00:02",
                  "Analysis": { "MinSuccessRate": 99.0, "MaxP99Ms": 5000, "MinRequests": 10 } }
                """);
            State(bad).ShouldBe("RolledBack", bad.ToString());
            var failed = Decisions(bad).Single(d => d.GetProperty("verdict").GetString() == "Failed");
            failed.GetProperty("step").GetInt32().ShouldBe(1);
            failed.GetProperty("weight").GetInt32().ShouldBe(20);
            failed.GetProperty("reason").GetString().ShouldNotBeNull().ShouldContain("success rate");
            var badCanary = failed.GetProperty("canary");
            badCanary.GetProperty("requests").GetInt64().ShouldBeGreaterThanOrEqualTo(10);
            badCanary.GetProperty("errors").GetInt64().ShouldBeGreaterThan(0);
            badCanary.GetProperty("successRate").GetDouble().ShouldBeLessThan(99);
            failed.GetProperty("stable").GetProperty("successRate").GetDouble().ShouldBe(100);
            Decisions(bad).ShouldNotContain(d => d.GetProperty("verdict").GetString() == "Passed");
            (await RouteAsync(admin)).ShouldBe("v2:100");

            // Rolled back everywhere: the caller stops sending to v3 at all.
            await Poll.UntilAsync(async () => await AnswerAsync(client) == "reviews:v2", TimeSpan.FromSeconds(30), "the caller back on v2");
            var before = servedByV3.Count;
            for (var i = 0; i < 50; i++)
            {
                (await AnswerAsync(client)).ShouldBe("reviews:v2");
            }

            servedByV3.Count.ShouldBe(before);
        }
        finally
        {
            await stop.CancelAsync();
            await traffic;
        }
    }

    /// <summary>A reviews app answering <c>reviews:&lt;version&gt;</c>, or with <paramref name="failEvery"/> above 0 a 500 every that many requests.</summary>
    private static Task<WebApplication> StartReviewsAsync(RegistryHost registry, string version, int failEvery, ServedCounter served) =>
        registry.StartAppAsync("reviews", version, app =>
        {
            app.MapGet("/", () =>
            {
                var n = served.Next();
                return failEvery > 0 && n % failEvery == 0 ? Results.StatusCode(StatusCodes.Status500InternalServerError) : Results.Text($"reviews:{version}");
            });
        }, extra: FastRenewals);

    /// <summary>Starts a rollout of reviews and reads it back until it has ended and its final weights are in the policy.</summary>
    private static async Task<JsonElement> RunRolloutAsync(HttpClient admin, string spec)
    {
        using (var put = await admin.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), Json(spec)))
        {
            put.StatusCode.ShouldBe(HttpStatusCode.Created, await put.Content.ReadAsStringAsync());
        }

        JsonElement status = default;
        await Poll.UntilAsync(async () =>
        {
            using var doc = JsonDocument.Parse(await admin.GetStringAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative)));
            status = doc.RootElement.Clone();
            return State(status) is "Succeeded" or "RolledBack" or "Aborted" && status.TryGetProperty("policyVersion", out _);
        }, TimeSpan.FromMinutes(1), "the rollout ended");
        return status;
    }

    private static string? State(JsonElement rollout) => rollout.GetProperty("state").GetString();

    private static List<JsonElement> Decisions(JsonElement rollout) => [.. rollout.GetProperty("decisions").EnumerateArray()];

    /// <summary>The route's destinations in the registry's policy, as <c>subset:weight</c> joined by commas.</summary>
    private static async Task<string> RouteAsync(HttpClient admin)
    {
        using var doc = JsonDocument.Parse(await admin.GetStringAsync(new Uri("/v1/policies/reviews", UriKind.Relative)));
        return string.Join(',', doc.RootElement.GetProperty("document").GetProperty("Routes")[0].GetProperty("Destinations").EnumerateArray()
            .Select(d => $"{d.GetProperty("Subset").GetString()}:{d.GetProperty("Weight").GetInt32()}"));
    }

    /// <summary>One call to reviews: its answer, or <c>failed</c>.</summary>
    private static async Task<string> AnswerAsync(HttpClient client)
    {
        try
        {
            using var response = await client.GetAsync(new Uri("http://reviews/"));
            return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : "failed";
        }
        catch (HttpRequestException)
        {
            return "failed";
        }
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>Requests an app has served.</summary>
    private sealed class ServedCounter
    {
        private long _count;

        public long Count => Interlocked.Read(ref _count);

        public long Next() => Interlocked.Increment(ref _count);
    }
}
