using System.Net;
using System.Net.Http.Headers;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Registry.Tests;

/// <summary>
/// Two registry replicas on one etcd prefix (the shared test cluster) answer as one registry: an index from one means
/// the same at the other, a policy version written through one is what an <c>If-Match</c> at the other is checked
/// against, and the dashboard of either shows the traffic every instance reported through either.
/// </summary>
public sealed class ReplicaApiTests : IAsyncLifetime
{
    private readonly string _ca = Directory.CreateTempSubdirectory("mesh-replica-api-ca-").FullName;
    private RegistryHost _first = null!;
    private RegistryHost _second = null!;

    public async Task InitializeAsync()
    {
        var etcd = await EtcdCluster.Shared;
        var prefix = $"/meshlib-test/{Guid.NewGuid():N}/";
        _first = await RegistryHost.StartAsync(etcd: etcd, etcdPrefix: prefix, configure: s => s["MeshRegistry:CaPath"] = _ca);
        _second = await RegistryHost.StartAsync(etcd: etcd, etcdPrefix: prefix, configure: s => s["MeshRegistry:CaPath"] = _ca);
    }

    public async Task DisposeAsync()
    {
        await _first.DisposeAsync();
        await _second.DisposeAsync();
        RegistryHost.DeleteDirectory(_ca);
    }

    [Fact]
    public async Task A_watch_resumes_at_the_other_replica_from_the_index_the_first_gave()
    {
        var registered = await _first.Client(RegistryHost.ReviewsToken).RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");

        // The second replica answers the same state with the same index, and parks a watch at it.
        var at = await _second.Admin.GetJsonAsync("/v1/services/reviews/instances");
        at.Index().ShouldBe(registered);
        var watch = _second.Admin.GetJsonAsync($"/v1/services/reviews/instances?index={registered}&wait=1m");
        await Poll.UntilAsync(() => _second.Store.WaitingWatches == 1, because: "the watch parks at the second replica");

        // A change through the first wakes it, with the index the first answered.
        var changed = await _first.Client(RegistryHost.ReviewsToken).RegisterIndexAsync("reviews", "r2", "http://127.0.0.1:5002");
        var answer = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        answer.Index().ShouldBe(changed);
        answer.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ShouldBe(["r1", "r2"]);

        // A renewal through the second moves no index at either.
        (await _second.Client(RegistryHost.ReviewsToken).RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001")).ShouldBe(changed);
        (await _first.Admin.GetJsonAsync("/v1/services/reviews/instances")).Index().ShouldBe(changed);
    }

    [Fact]
    public async Task Of_two_writers_at_different_replicas_expecting_one_version_exactly_one_wins()
    {
        (await PutPolicyAsync(_first, """{ "LoadBalancer": { "Policy": "RoundRobin" } }""", null)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var writes = await Task.WhenAll(
            PutPolicyAsync(_first, """{ "LoadBalancer": { "Policy": "Random" } }""", 1),
            PutPolicyAsync(_second, """{ "LoadBalancer": { "Policy": "LeastRequest" } }""", 1));
        writes.Count(w => w.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        writes.Count(w => w.StatusCode == HttpStatusCode.PreconditionFailed).ShouldBe(1);

        // Both replicas now say version 2, with the winner's document.
        var winner = writes.Single(w => w.StatusCode == HttpStatusCode.OK) == writes[0] ? "Random" : "LeastRequest";
        foreach (var replica in new[] { _first, _second })
        {
            var policy = await replica.Admin.GetJsonAsync("/v1/policies/reviews");
            policy.GetProperty("version").GetInt64().ShouldBe(2);
            policy.GetProperty("document").GetProperty("LoadBalancer").GetProperty("Policy").GetString().ShouldBe(winner);
        }

        foreach (var write in writes)
        {
            write.Dispose();
        }
    }

    [Fact]
    public async Task Either_dashboard_shows_the_traffic_reported_through_the_other()
    {
        const string stats = """
            { "windowSeconds": 2, "certificateExpiresAt": "2030-01-01T00:00:00+00:00", "destinations": [
                { "service": "ratings", "version": "v1", "requests": 100, "errors": 10, "p50Ms": 2, "p99Ms": 9 } ] }
            """;
        using var renewal = await _first.Client(RegistryHost.ReviewsToken).PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative),
            Api.Json($$"""{ "address": "http://127.0.0.1:5001", "version": "v1", "ttlSeconds": 30, "stats": {{stats}} }"""));
        renewal.EnsureSuccessStatusCode();

        var dashboard = await _second.Admin.GetJsonAsync("/v1/dashboard");
        var instance = dashboard.GetProperty("services").EnumerateArray().Single().GetProperty("instances").EnumerateArray().Single();
        instance.GetProperty("id").GetString().ShouldBe("r1");
        instance.GetProperty("certificateExpiresAt").GetDateTimeOffset().ShouldBe(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var edge = dashboard.GetProperty("edges").EnumerateArray().Single();
        edge.GetProperty("source").GetString().ShouldBe("reviews");
        edge.GetProperty("destination").GetString().ShouldBe("ratings");
        edge.GetProperty("requestsPerSecond").GetDouble().ShouldBe(50.0);
        edge.GetProperty("successPercent").GetDouble().ShouldBe(90.0);
    }

    [Fact]
    public async Task A_join_token_made_or_revoked_through_one_replica_is_made_or_revoked_at_the_other()
    {
        using var made = await _first.Admin.PostAsync(new Uri("/v1/join-tokens", UriKind.Relative), Api.Json("""{ "service": "reviews", "uses": 3 }"""));
        made.StatusCode.ShouldBe(HttpStatusCode.Created);
        var record = await made.ReadJsonAsync();
        var id = record.GetProperty("id").GetString()!;
        var token = record.GetProperty("token").GetString()!;

        // Looked for in the second replica's memory, not by calling it: a token it does not know yet would count as a guess.
        var atSecond = _second.App.Services.GetRequiredService<JoinTokenStore>();
        await Poll.UntilAsync(() => atSecond.List().Any(t => t.Id == id), because: "the second replica learns the token the first made");
        using (var registered = await _second.Client(token).RegisterAsync("reviews", "made-1", "http://127.0.0.1:5001"))
        {
            registered.StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        // Revoked through the first, it opens nothing at the second either: not registering, deregistering or reading.
        using (var revoked = await _first.Admin.DeleteAsync(new Uri($"/v1/join-tokens/{id}", UriKind.Relative)))
        {
            revoked.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        }

        await Poll.UntilAsync(() => atSecond.List().All(t => t.Id != id), because: "the second replica drops the token the first revoked");
        await (await _second.Client(token).DeleteAsync(new Uri("/v1/services/reviews/instances/made-1", UriKind.Relative)))
            .ProblemAsync(HttpStatusCode.Unauthorized);
        (await _second.Admin.InstanceIdsAsync("reviews")).ShouldContain("made-1");
    }

    private static async Task<HttpResponseMessage> PutPolicyAsync(RegistryHost replica, string document, long? expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri("/v1/policies/reviews", UriKind.Relative)) { Content = Api.Json(document) };
        if (expected is { } version)
        {
            request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{version}\""));
        }

        return await replica.Admin.SendAsync(request);
    }
}
