using System.Net;
using Mesh.Client;
using Mesh.Client.Registry;
using Mesh.Client.Runtime;
using Mesh.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests;

/// <summary>A client of many services holds one long poll for all of them (<c>POST /v1/watch</c>), or two per service against an older registry.</summary>
[Collection(nameof(ControlPlaneTests))]
public sealed class ServicesWatchTests
{
    private const string RoundRobin = """{ "LoadBalancer": { "Policy": "RoundRobin" } }""";

    private static MeshTestClient Client(RegistryHost registry) => MeshTestClient.Create(new
    {
        Service = new { Name = "productpage" },
        Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },
    });

    private static Task<RegistryHost> StartRegistryAsync(RegistryRequestCounter counter) =>
        RegistryHost.StartAsync(services: ["productpage"], configureServices: s => s.AddSingleton<IStartupFilter>(counter));

    private static int Endpoints(MeshTestClient mesh, string service) =>
        mesh.GetService<MeshRuntime>().Model.Services.TryGetValue(service, out var s) ? s.Endpoints.Length : 0;

    private static bool HasRoundRobin(MeshTestClient mesh, string service) =>
        mesh.GetService<RegistryDiscoverySource>().TryGetPolicy(service, out var policy) && policy.LoadBalancer.Policy == LoadBalancerPolicy.RoundRobin;

    private static async Task RegisterAsync(HttpClient admin, string service, string id, int port)
    {
        using var response = await admin.PutAsync(new Uri($"/v1/services/{service}/instances/{id}", UriKind.Relative),
            new StringContent($$"""{ "address": "http://127.0.0.1:{{port}}", "ttlSeconds": 300 }""", System.Text.Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
    }

    private static async Task PutPolicyAsync(HttpClient admin, string service)
    {
        using var response = await admin.PutAsync(new Uri($"/v1/policies/{service}", UriKind.Relative),
            new StringContent(RoundRobin, System.Text.Encoding.UTF8, "application/json"));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task An_app_of_fifty_services_holds_one_poll_and_sees_an_instance_and_a_policy_change()
    {
        var counter = new RegistryRequestCounter();
        await using var registry = await StartRegistryAsync(counter);
        var admin = registry.Admin;
        var services = Enumerable.Range(0, 50).Select(i => $"svc-{i:D2}").ToArray();
        for (var i = 0; i < services.Length; i++)
        {
            await RegisterAsync(admin, services[i], "a", 20_000 + i);
        }

        await using var mesh = Client(registry);
        await Poll.UntilAsync(() => services.All(s => Endpoints(mesh, s) == 1), because: "the client sees all 50 services");

        // Held: one poll for the catalog, one for the states of all 50; none per service.
        await Poll.UntilAsync(() => counter.InFlight(RegistryRequestCounter.States) == 1 && counter.InFlight(RegistryRequestCounter.Catalog) == 1,
            because: "the client parks one poll of all services and one of the catalog");
        counter.Total(RegistryRequestCounter.Instances).ShouldBe(0);
        counter.Total(RegistryRequestCounter.Policy).ShouldBe(0);

        await RegisterAsync(admin, "svc-17", "b", 21_017);
        await Poll.UntilAsync(() => Endpoints(mesh, "svc-17") == 2, because: "a new instance of one of the 50 reaches the client");

        await PutPolicyAsync(admin, "svc-33");
        await Poll.UntilAsync(() => HasRoundRobin(mesh, "svc-33"), because: "a policy of one of the 50 reaches the client");
        Endpoints(mesh, "svc-17").ShouldBe(2);

        // A service that appears later joins the one poll.
        await RegisterAsync(admin, "svc-50", "a", 20_050);
        await Poll.UntilAsync(() => Endpoints(mesh, "svc-50") == 1, because: "a service registered later is watched too");
        await RegisterAsync(admin, "svc-50", "b", 21_050);
        await Poll.UntilAsync(() => Endpoints(mesh, "svc-50") == 2, because: "the later service's changes come with the one poll");

        await Poll.UntilAsync(() => counter.InFlight(RegistryRequestCounter.States) == 1, because: "one poll of all services is parked again");
        counter.InFlight(RegistryRequestCounter.States).ShouldBe(1);
        counter.Total(RegistryRequestCounter.Instances).ShouldBe(0);
        counter.Total(RegistryRequestCounter.Policy).ShouldBe(0);
    }

    [Fact]
    public async Task Through_a_registry_restart_the_client_keeps_its_state_and_the_one_poll_resumes()
    {
        var counter = new RegistryRequestCounter();
        await using var registry = await StartRegistryAsync(counter);
        var admin = registry.Admin;
        await RegisterAsync(admin, "svc-a", "a", 20_000);
        await PutPolicyAsync(admin, "svc-b");
        await using var mesh = Client(registry);
        await Poll.UntilAsync(() => Endpoints(mesh, "svc-a") == 1 && HasRoundRobin(mesh, "svc-b"), because: "the client sees both services");
        await Poll.UntilAsync(() => counter.InFlight(RegistryRequestCounter.States) == 1, because: "the poll of all services is parked");

        // The held poll fails with the registry; what the client knew stays while it retries.
        await registry.RestartAsync();
        Endpoints(mesh, "svc-a").ShouldBe(1);
        HasRoundRobin(mesh, "svc-b").ShouldBeTrue();

        admin = registry.Admin;
        await RegisterAsync(admin, "svc-b", "a", 20_001);
        await Poll.UntilAsync(() => Endpoints(mesh, "svc-b") == 1, because: "a change after the restart reaches the client");
        Endpoints(mesh, "svc-a").ShouldBe(1);
        HasRoundRobin(mesh, "svc-b").ShouldBeTrue();
        await Poll.UntilAsync(() => counter.InFlight(RegistryRequestCounter.States) == 1, because: "the one poll is parked again");
        counter.Total(RegistryRequestCounter.Instances).ShouldBe(0);
    }

    [Fact]
    public async Task Refused_by_the_watch_limit_the_client_stays_connected_retries_and_still_sees_changes()
    {
        // A limit of one: of the client's two polls (catalog, states) one parks and the other gets 429 each time.
        var counter = new RegistryRequestCounter();
        await using var registry = await RegistryHost.StartAsync(configure: s => s["MeshRegistry:MaxWatchesPerCaller"] = "1",
            services: ["productpage"], configureServices: s => s.AddSingleton<IStartupFilter>(counter));
        var admin = registry.Admin;
        await RegisterAsync(admin, "svc-a", "a", 20_000);
        await using var mesh = Client(registry);
        await Poll.UntilAsync(() => Endpoints(mesh, "svc-a") == 1, because: "the client sees the service");
        await Poll.UntilAsync(() => counter.Total(RegistryRequestCounter.States) + counter.Total(RegistryRequestCounter.Catalog) >= 6,
            because: "the refused poll is retried");

        // Refused is not unreachable: the registry answered.
        var source = mesh.GetService<RegistryDiscoverySource>();
        source.IsConnected.ShouldBeTrue();

        await RegisterAsync(admin, "svc-a", "b", 20_001);
        await PutPolicyAsync(admin, "svc-a");
        await Poll.UntilAsync(() => Endpoints(mesh, "svc-a") == 2 && HasRoundRobin(mesh, "svc-a"), because: "changes still reach the client");
        source.IsConnected.ShouldBeTrue();
    }

    [Fact]
    public async Task Against_a_registry_without_the_watch_of_many_it_polls_each_service()
    {
        var counter = new RegistryRequestCounter { RefuseServicesWatch = true };
        await using var registry = await StartRegistryAsync(counter);
        var admin = registry.Admin;
        string[] services = ["svc-a", "svc-b", "svc-c"];
        for (var i = 0; i < services.Length; i++)
        {
            await RegisterAsync(admin, services[i], "a", 20_000 + i);
        }

        await using var mesh = Client(registry);
        await Poll.UntilAsync(() => services.All(s => Endpoints(mesh, s) == 1), because: "the client sees every service");
        await Poll.UntilAsync(() => counter.InFlight(RegistryRequestCounter.Instances) == 3 && counter.InFlight(RegistryRequestCounter.Policy) == 3,
            because: "the client holds an instances and a policy poll per service");
        counter.Total(RegistryRequestCounter.States).ShouldBe(1);

        await RegisterAsync(admin, "svc-b", "b", 21_001);
        await Poll.UntilAsync(() => Endpoints(mesh, "svc-b") == 2, because: "an instance change reaches the client");
        await PutPolicyAsync(admin, "svc-c");
        await Poll.UntilAsync(() => HasRoundRobin(mesh, "svc-c"), because: "a policy change reaches the client");
        counter.Total(RegistryRequestCounter.States).ShouldBe(1);
    }
}
