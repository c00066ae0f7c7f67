using System.Net;
using System.Net.Http.Json;
using Mesh.Client.Discovery.Consul;
using Mesh.Testing;

namespace Mesh.IntegrationTests.Discovery;

/// <summary>
/// The mesh's Consul source (<c>Mesh:Discovery:Consul</c>) routes to instances registered in a real registry, read
/// through the registry's Consul API: the client knows no registry, only a Consul address and token.
/// </summary>
public sealed class ConsulDiscoveryTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_consul_source_routes_to_registered_instances_and_follows_their_changes()
    {
        await using var registry = await RegistryHost.StartAsync();
        await using var v1 = await TestBackend.StartAsync("v1");
        await using var v2 = await TestBackend.StartAsync("v2");
        var reviews = registry.Client(RegistryHost.ReviewsToken);
        await RegisterAsync(reviews, "r1", v1.Address, "v1");

        await using var client = MeshTestClient.Create(new
        {
            Service = new { Name = "productpage" },
            Discovery = new { Consul = new { Address = registry.Address, Token = RegistryHost.RatingsToken, Datacenter = "dc1" } },
            Services = new Dictionary<string, object>
            {
                ["reviews"] = new { Subsets = new { v2 = new { version = "v2" } }, Routes = new[] { new { Name = "default" } } },
            },
        });
        var source = client.GetService<ConsulEndpointSource>();

        await Poll.UntilAsync(async () => await TryGetAsync(client) == "v1", Deadline, "the mesh routes to the instance Consul lists");

        // A registration reaches the mesh through the blocking query, with its version as a label.
        await RegisterAsync(reviews, "r2", v2.Address, "v2");
        await Poll.UntilAsync(() => Task.FromResult(source.TryGetEndpoints("reviews", out var e) && e.Count == 2), Deadline, "the watch sees r2");
        source.TryGetEndpoints("reviews", out var endpoints).ShouldBeTrue();
        endpoints.Single(e => e.Address.Port == v2.Address.Port).Labels["version"].ShouldBe("v2");
        endpoints.Single(e => e.Address.Port == v1.Address.Port).Labels["version"].ShouldBe("v1");

        // A deregistration takes the instance out of rotation.
        (await reviews.DeleteAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await Poll.UntilAsync(() => Task.FromResult(source.TryGetEndpoints("reviews", out var e) && e.Count == 1), Deadline, "the watch sees r1 go");
        var before = v1.Requests;
        for (var i = 0; i < 20; i++)
        {
            (await client.Client.GetStringAsync(new Uri("http://reviews/"))).ShouldBe("v2");
        }

        v1.Requests.ShouldBe(before);
    }

    private static async Task<string?> TryGetAsync(MeshTestClient client)
    {
        using var response = await client.Client.GetAsync(new Uri("http://reviews/"));
        return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : null;
    }

    private static async Task RegisterAsync(HttpClient client, string id, Uri address, string version)
    {
        using var response = await client.PutAsJsonAsync(new Uri($"/v1/services/reviews/instances/{id}", UriKind.Relative),
            new { address = address.GetLeftPart(UriPartial.Authority), version, ttlSeconds = 60 });
        response.IsSuccessStatusCode.ShouldBeTrue(await response.Content.ReadAsStringAsync());
    }
}
