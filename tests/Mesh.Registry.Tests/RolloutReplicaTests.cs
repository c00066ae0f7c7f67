using System.Net;
using Mesh.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// Two registry replicas on one etcd prefix (the shared test cluster): exactly one drives rollouts, the decider; a
/// rollout started through the other is judged once per step, and when the driver stops the other one carries on.
/// </summary>
public sealed class RolloutReplicaTests : IAsyncLifetime
{
    private const string Policy = """
        { "Subsets": { "v1": { "version": "v1" }, "v3": { "version": "v3" } },
          "Routes": [ { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": 100 } ] } ] }
        """;

    private const string Spec = """
        { "Route": "default", "Stable": "v1", "Canary": "v3", "Steps": [5, 50, 100], "StepInterval": "00:00:30",
          "Analysis": { "MinSuccessRate": 99.0, "MinRequests": 100 } }
        """;

    private readonly string _ca = Directory.CreateTempSubdirectory("mesh-rollout-replica-ca-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private RegistryHost _first = null!;
    private RegistryHost _second = null!;
    private int _reports;

    public async Task InitializeAsync()
    {
        var etcd = await EtcdCluster.Shared;
        var prefix = $"/meshlib-test/{Guid.NewGuid():N}/";
        _first = await RegistryHost.StartAsync(_time, etcd: etcd, etcdPrefix: prefix, configure: s => s["MeshRegistry:CaPath"] = _ca,
            services: ["reviews", "productpage"]);
        _second = await RegistryHost.StartAsync(_time, etcd: etcd, etcdPrefix: prefix, configure: s => s["MeshRegistry:CaPath"] = _ca,
            services: ["reviews", "productpage"]);
    }

    public async Task DisposeAsync()
    {
        await _first.DisposeAsync();
        await _second.DisposeAsync();
        RegistryHost.DeleteDirectory(_ca);
    }

    [Fact]
    public async Task One_replica_drives_and_the_other_takes_over_when_it_stops()
    {
        await Poll.UntilAsync(() => _first.Store.DrivesRollouts || _second.Store.DrivesRollouts, TimeSpan.FromSeconds(30), "a replica becomes the decider");
        var (driver, other) = _first.Store.DrivesRollouts ? (_first, _second) : (_second, _first);
        other.Store.DrivesRollouts.ShouldBeFalse();

        (await other.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json(Policy))).EnsureSuccessStatusCode();
        using (var started = await other.Admin.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), Api.Json(Spec)))
        {
            started.StatusCode.ShouldBe(HttpStatusCode.Created, await started.Content.ReadAsStringAsync());
        }

        // The driver opens the step's window at its first look; the other replica, which does not drive, judges nothing.
        await TickBothAsync();
        await ReportAsync(other, driver, 1000, 100);
        _time.Advance(TimeSpan.FromSeconds(30));
        await TickBothAsync();
        await TickBothAsync();
        var rollout = await other.Admin.GetJsonAsync("/v1/rollouts/reviews");
        Verdicts(rollout).ShouldBe(["Started", "Passed"]);
        rollout.GetProperty("weight").GetInt32().ShouldBe(50);

        // The driver stops: the other replica becomes the decider and carries the rollout on from the store.
        await driver.DisposeAsync();
        await Poll.UntilAsync(() => other.Store.DrivesRollouts, TimeSpan.FromSeconds(30), "the other replica takes over");
        await other.Rollouts.TickAsync();
        await ReportAsync(other, other, 1000, 1000);
        _time.Advance(TimeSpan.FromSeconds(30));
        await other.Rollouts.TickAsync();
        rollout = await other.Admin.GetJsonAsync("/v1/rollouts/reviews");
        Verdicts(rollout).ShouldBe(["Started", "Passed", "Passed"]);
        rollout.GetProperty("step").GetInt32().ShouldBe(3);
    }

    private async Task TickBothAsync()
    {
        await _first.Rollouts.TickAsync();
        await _second.Rollouts.TickAsync();
    }

    /// <summary>A productpage renewal through <paramref name="via"/>, waited for in <paramref name="judge"/>'s open window.</summary>
    private async Task ReportAsync(RegistryHost via, RegistryHost judge, long stable, long canary)
    {
        var id = $"pp-{++_reports}";
        var body = $$"""
            { "address": "http://127.0.0.1:{{5000 + _reports}}", "version": "v1", "ttlSeconds": 3600, "stats": { "windowSeconds": 5, "destinations": [
              { "service": "reviews", "version": "v1", "requests": {{stable}}, "errors": 0, "p99Ms": 100 },
              { "service": "reviews", "version": "v3", "requests": {{canary}}, "errors": 0, "p99Ms": 100 } ] } }
            """;
        (await via.Client(RegistryHost.JoinToken("productpage")).PutAsync(new Uri($"/v1/services/productpage/instances/{id}", UriKind.Relative), Api.Json(body)))
            .EnsureSuccessStatusCode();
        await Poll.UntilAsync(async () =>
        {
            var status = await judge.Rollouts.GetAsync("reviews");
            return status is not null && judge.RolloutWindows.Find("reviews", status.StepStartedAt.UtcTicks) is { } window &&
                   window.Read().Canary.Requests >= canary;
        }, because: "the driver's window counts the report");
    }

    private static List<string> Verdicts(System.Text.Json.JsonElement rollout) =>
        [.. rollout.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("verdict").GetString()!)];
}
