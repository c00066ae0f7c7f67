using Mesh.Client.Runtime;
using Mesh.Client.Security;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests;

/// <summary>Apps configured with the registry's replicas (<c>Mesh:Registry:Urls</c>) while one of them is down.</summary>
[Collection(nameof(ControlPlaneTests))]
public sealed class RegistryFailoverTests
{
    private const string InstancesOfReviews = "/v1/services/reviews/instances";

    /// <summary>The one long poll a client holds for the instances and policies of every service it knows.</summary>
    private const string ServiceStates = "/v1/watch";

    private static int Endpoints(MeshTestClient mesh, string service) =>
        mesh.GetService<MeshRuntime>().Model.Services.TryGetValue(service, out var s) ? s.Endpoints.Length : 0;

    [Fact]
    public async Task An_app_whose_first_replica_is_dead_starts_registers_and_gets_its_certificate_from_the_next()
    {
        await using var registry = await RegistryHost.StartAsync(services: ["reviews"]);
        var dead = TestBackend.ClosedPortAddress();

        await using var app = await registry.StartAppAsync("reviews", "v1", a => a.MapGet("/", () => "reviews:v1"), replicas: [dead, registry.Address]);

        // Start-up waits for the first certificate: it is there once the app has started, from the second replica.
        var identity = app.Services.GetRequiredService<MeshSecurity>().Identity!;
        identity.Current.ShouldNotBeNull();
        identity.Current.Service.ShouldBe("reviews");
        var admin = registry.Admin;
        await Poll.UntilAsync(async () => (await admin.GetStringAsync(new Uri(InstancesOfReviews, UriKind.Relative))).Contains("\"https://127.0.0.1:", StringComparison.Ordinal),
            because: "reviews registers through the second replica");
    }

    [Fact]
    public async Task A_watching_client_keeps_routing_when_its_replica_stops_and_resumes_its_watch_at_the_next_one()
    {
        await using var registry = await RegistryHost.StartAsync(services: ["reviews", "productpage"]);
        await using var v1 = await registry.StartAppAsync("reviews", "v1", app => app.MapGet("/", () => "reviews:v1"));
        await using var first = await RegistryReplicaProxy.StartAsync(registry.Address);
        await using var second = await RegistryReplicaProxy.StartAsync(registry.Address);
        await using var mesh = MeshTestClient.Create(new
        {
            Service = new { Name = "productpage" },
            Registry = new { Urls = new[] { first.Address, second.Address }, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },
            Services = new Dictionary<string, object> { ["reviews"] = new { LoadBalancer = new { Policy = "RoundRobin" } } },
        });

        await Poll.UntilAsync(() => Endpoints(mesh, "reviews") == 1 && mesh.GetService<MeshSecurity>().Identity!.Current is not null,
            because: "the client discovers reviews and gets its certificate through the first replica");
        (await mesh.Client.GetStringAsync(new Uri("http://reviews/"))).ShouldBe("reviews:v1");
        second.Requests.ShouldBeEmpty();
        var index = first.LastAnsweredIndex(ServiceStates);
        index.ShouldNotBeNull();

        await first.StopAsync();

        // Routing does not wait for the registry: the last known state keeps serving.
        for (var i = 0; i < 10; i++)
        {
            (await mesh.Client.GetStringAsync(new Uri("http://reviews/"))).ShouldBe("reviews:v1");
        }

        await Poll.UntilAsync(() => second.Requests.Any(r => r.StartsWith($"{ServiceStates}?index={index}&", StringComparison.Ordinal)),
            because: "the watch asks the second replica with the index it had");
        second.Requests.ShouldNotContain(r => r.StartsWith($"{ServiceStates}?index=0&", StringComparison.Ordinal));
        mesh.Logs.GetSnapshot().ShouldContain(r => r.Message.StartsWith($"Registry replica {first.Address} failed", StringComparison.Ordinal));

        // A change that only the second replica can now pass on.
        await using var v2 = await registry.StartAppAsync("reviews", "v2", app => app.MapGet("/", () => "reviews:v2"));
        await Poll.UntilAsync(() => Endpoints(mesh, "reviews") == 2, because: "the new instance reaches the client through the second replica");
        var seen = new HashSet<string>();
        for (var i = 0; i < 10; i++)
        {
            seen.Add(await mesh.Client.GetStringAsync(new Uri("http://reviews/")));
        }

        seen.ShouldBe(["reviews:v1", "reviews:v2"], ignoreOrder: true);
        second.LastAnsweredIndex(ServiceStates).ShouldNotBeNull().ShouldBeGreaterThan(index.Value);
    }
}
