using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Mesh.Client.Registry;
using Mesh.Client.Runtime;
using Mesh.Registry.Store;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests;

/// <summary>Apps that register with the registry and find each other through it.</summary>
[Collection(nameof(ControlPlaneTests))]
[CollectionDefinition(nameof(ControlPlaneTests), DisableParallelization = true)]
public sealed class ControlPlaneTests
{
    private static readonly string[] Services = ["details", "reviews", "ratings", "productpage"];

    /// <summary>A meshed app that answers its name and version, registered with the registry.</summary>
    private static Task<WebApplication> StartAppAsync(RegistryHost registry, string service, string version, TimeSpan? drain = null) =>
        registry.StartAppAsync(service, version, app => app.MapGet("/", () => $"{service}:{version}"), drain ?? TimeSpan.FromSeconds(1));

    private static MeshTestClient Client(RegistryHost registry, string? cacheDirectory = null) => MeshTestClient.Create(new
    {
        Service = new { Name = "productpage" },
        Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = cacheDirectory ?? string.Empty },

        // A local policy for a service whose endpoints come from the registry: round robin, so every instance is seen.
        Services = new Dictionary<string, object> { ["reviews"] = new { LoadBalancer = new { Policy = "RoundRobin" } } },
    });

    private static int Endpoints(MeshTestClient mesh, string service) =>
        mesh.GetService<MeshRuntime>().Model.Services.TryGetValue(service, out var s) ? s.Endpoints.Length : 0;

    [Fact]
    public async Task Apps_register_find_each_other_and_a_graceful_stop_drops_no_request()
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        await using var details = await StartAppAsync(registry, "details", "v1");
        await using var reviewsA = await StartAppAsync(registry, "reviews", "v1");
        var reviewsB = await StartAppAsync(registry, "reviews", "v2");
        await using var mesh = Client(registry);

        await Poll.UntilAsync(() => Endpoints(mesh, "details") == 1 && Endpoints(mesh, "reviews") == 2, because: "the client sees every registered app");
        (await mesh.Client.GetStringAsync(new Uri("http://details/"))).ShouldBe("details:v1");
        var seen = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            seen.Add(await mesh.Client.GetStringAsync(new Uri("http://reviews/")));
        }

        seen.ShouldBe(["reviews:v1", "reviews:v2"], ignoreOrder: true);

        // Stop one reviews instance gracefully while traffic flows: it deregisters, drains, then stops.
        using var stop = new CancellationTokenSource();
        var failures = 0;
        var sent = 0;
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await mesh.Client.GetAsync(new Uri("http://reviews/"));
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failures);
                }

                Interlocked.Increment(ref sent);
            }
        });

        await Poll.UntilAsync(() => Volatile.Read(ref sent) > 50);
        var stopping = Stopwatch.StartNew();
        var stopTask = reviewsB.StopAsync();
        await Poll.UntilAsync(() => Endpoints(mesh, "reviews") == 1, TimeSpan.FromSeconds(1), "the deregistered instance leaves the client within 1 s");
        var noticedAfter = stopping.Elapsed;
        await stopTask;
        await reviewsB.DisposeAsync();
        var before = Volatile.Read(ref sent);
        await Poll.UntilAsync(() => Volatile.Read(ref sent) > before + 50, because: "traffic keeps flowing after the stop");
        await stop.CancelAsync();
        await load;

        failures.ShouldBe(0);
        noticedAfter.ShouldBeLessThan(TimeSpan.FromSeconds(1));
        (await mesh.Client.GetStringAsync(new Uri("http://reviews/"))).ShouldBe("reviews:v1");
    }

    [Fact]
    public async Task A_policy_put_reaches_clients_an_invalid_one_is_refused_and_rollback_restores_a_version()
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        await using var v1 = await StartAppAsync(registry, "reviews", "v1");
        await using var v2 = await StartAppAsync(registry, "reviews", "v2");
        await using var mesh = Client(registry);
        var admin = registry.Admin;
        await Poll.UntilAsync(() => Endpoints(mesh, "reviews") == 2);

        async Task<Dictionary<string, int>> SplitAsync(int n)
        {
            var counts = new Dictionary<string, int>();
            for (var i = 0; i < n; i++)
            {
                var body = await mesh.Client.GetStringAsync(new Uri("http://reviews/"));
                counts[body] = counts.GetValueOrDefault(body) + 1;
            }

            return counts;
        }

        static StringContent Policy(int v1Weight) => new(JsonSerializer.Serialize(new
        {
            Subsets = new { v1 = new { version = "v1" }, v2 = new { version = "v2" } },
            Routes = new[] { new { Destinations = new[] { new { Subset = "v1", Weight = v1Weight }, new { Subset = "v2", Weight = 100 - v1Weight } } } },
        }), Encoding.UTF8, "application/json");

        // Version 1: everything to v1.
        (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Policy(100))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(async () => (await SplitAsync(20)).Keys.SequenceEqual(["reviews:v1"]), because: "version 1 routes all to v1");

        // Version 2: 50/50, visible within a second.
        var put = Stopwatch.StartNew();
        (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Policy(50))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(async () => (await SplitAsync(10)).Count == 2, TimeSpan.FromSeconds(1), "the 50/50 policy reaches the client within 1 s");
        put.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(1));
        var split = await SplitAsync(1000);
        split["reviews:v1"].ShouldBeInRange(420, 580);

        // An invalid policy is a 400 naming every error, and the 50/50 policy keeps routing.
        using var bad = await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), new StringContent(
            """{ "Subsets": { "v1": { "version": "v1" } }, "Routes": [ { "Destinations": [ { "Subset": "v1", "Weight": 90 }, { "Subset": "v3", "Weight": 20 } ] } ] }""",
            Encoding.UTF8, "application/json"));
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var problem = await bad.Content.ReadAsStringAsync();
        problem.ShouldContain("Routes:0:Destinations");
        problem.ShouldContain("Routes:0:Destinations:1:Subset");
        (await SplitAsync(200)).Count.ShouldBe(2);

        // Rollback to version 1: all to v1 again.
        (await admin.PostAsync(new Uri("/v1/policies/reviews/rollback?version=1", UriKind.Relative), null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(async () => (await SplitAsync(20)).Keys.SequenceEqual(["reviews:v1"]), because: "rollback restores version 1");
    }

    [Fact]
    public async Task A_registry_policy_the_client_refuses_leaves_the_last_good_one_serving()
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        await using var v1 = await StartAppAsync(registry, "reviews", "v1");
        await using var v2 = await StartAppAsync(registry, "reviews", "v2");
        await using var mesh = Client(registry);
        using var rejected = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<long>(
            mesh.GetService<System.Diagnostics.Metrics.IMeterFactory>(), "Mesh.Client", "mesh.registry.policies.rejected");
        await Poll.UntilAsync(() => Endpoints(mesh, "reviews") == 2);

        async Task<HashSet<string>> SeenAsync(int n)
        {
            var seen = new HashSet<string>();
            for (var i = 0; i < n; i++)
            {
                seen.Add(await mesh.Client.GetStringAsync(new Uri("http://reviews/")));
            }

            return seen;
        }

        const string AllToV1 = """{ "Subsets": { "v1": { "version": "v1" } }, "Routes": [ { "Destinations": [ { "Subset": "v1", "Weight": 100 } ] } ] }""";
        (await registry.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative),
            new StringContent(AllToV1, Encoding.UTF8, "application/json"))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(async () => (await SeenAsync(20)).SetEquals(["reviews:v1"]), because: "the policy sends all to v1");

        // What a newer registry would accept and this client cannot read (a setting it does not know), written past the
        // registry's own validation.
        var store = registry.App.Services.GetRequiredService<IRegistryStore>();
        await store.WritePolicyAsync("reviews", new PolicyChange(
            """{"Subsets":{"v2":{"version":"v2"}},"Routes":[{"Destinations":[{"Subset":"v2","Weight":100}],"Retry":{"Attempts":1,"Budget":3}}]}"""));
        await Poll.UntilAsync(() => mesh.Logs.GetSnapshot().Any(e => e.Message.Contains("Registry policy for reviews rejected", StringComparison.Ordinal)),
            because: "the client refuses the document");

        // The refused document neither routes nor removes the last good policy (which would fall back to the local
        // round robin over both versions).
        (await SeenAsync(40)).ShouldBe(["reviews:v1"]);
        rejected.Count(t => t["service"] == "reviews").ShouldBe(1, "the refusal is counted");
    }

    [Fact]
    public async Task Local_endpoints_serve_a_service_the_registry_has_no_instances_of()
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        await using var local = await TestBackend.StartAsync("ratings-local");
        await using var registered = await StartAppAsync(registry, "reviews", "v1");
        await using var mesh = MeshTestClient.Create(new
        {
            Service = new { Name = "productpage" },
            Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },
            Services = new Dictionary<string, object>
            {
                ["ratings"] = new { Endpoints = new[] { new { Address = local.Address } } },
                ["reviews"] = new { Endpoints = new[] { new { Address = TestBackend.ClosedPortAddress() } } },
            },
        });

        await Poll.UntilAsync(() => mesh.GetService<RegistryDiscoverySource>().IsConnected);
        (await mesh.Client.GetStringAsync(new Uri("http://ratings/"))).ShouldBe("ratings-local");

        // Where the registry knows instances, they win over the configured ones.
        await Poll.UntilAsync(async () =>
        {
            try
            {
                return await mesh.Client.GetStringAsync(new Uri("http://reviews/")) == "reviews:v1";
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, because: "the registry's reviews instance replaces the configured (closed) one");
    }

    [Fact]
    public async Task Clients_keep_routing_while_the_registry_is_down_and_after_a_restart_from_their_cache()
    {
        var cache = Directory.CreateTempSubdirectory("mesh-cache-").FullName;
        var registry = await RegistryHost.StartAsync(services: Services);
        await using var reviews = await StartAppAsync(registry, "reviews", "v1");
        var mesh = Client(registry, cache);
        await Poll.UntilAsync(() => Endpoints(mesh, "reviews") == 1);

        // Registry stopped in the middle of a 2,000-request run: no request fails.
        var failures = 0;
        for (var i = 0; i < 2000; i++)
        {
            if (i == 500)
            {
                await registry.DisposeAsync();
            }

            try
            {
                using var response = await mesh.Client.GetAsync(new Uri("http://reviews/"));
                if (!response.IsSuccessStatusCode)
                {
                    failures++;
                }
            }
            catch (HttpRequestException)
            {
                failures++;
            }
        }

        failures.ShouldBe(0);

        // The lost registry is visible: the connection state drops, the snapshot ages, and /healthz-style data says so.
        var source = mesh.GetService<RegistryDiscoverySource>();
        await Poll.UntilAsync(() => !source.IsConnected, because: "the client notices the registry is gone");
        source.SnapshotAge.ShouldBeGreaterThan(TimeSpan.Zero);
        source.SnapshotAge.ShouldNotBe(Timeout.InfiniteTimeSpan);
        await mesh.DisposeAsync();

        // An app started while the registry is still down routes on the cache its predecessor left.
        await using var restarted = Client(registry, cache);
        Endpoints(restarted, "reviews").ShouldBe(1);
        (await restarted.Client.GetStringAsync(new Uri("http://reviews/"))).ShouldBe("reviews:v1");
        Directory.Delete(cache, recursive: true);
    }
}
