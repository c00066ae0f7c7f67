using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests.Discovery;

/// <summary>An independent Consul client, the npm <c>consul</c> package under node, reads a real registry's Consul API.</summary>
public sealed class ConsulClientTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_npm_consul_client_lists_reads_healthy_instances_and_its_watch_fires_on_a_registration()
    {
        await using var registry = await RegistryHost.StartAsync();
        var reviews = registry.Client(RegistryHost.ReviewsToken);
        await RegisterAsync(reviews, "r1", "https://10.0.0.5:8443");
        await RegisterAsync(registry.Client(RegistryHost.RatingsToken), "ratings", "t1", "http://10.0.0.7:9000");

        // A join token reads, as any token does; it goes as X-Consul-Token, the client's way.
        using var node = NodeConsulClient.Start(registry.Address, RegistryHost.ReviewsToken, "reviews");

        var services = await node.NextAsync(Deadline);
        services.GetProperty("event").GetString().ShouldBe("services");
        services.GetProperty("services").EnumerateObject().Select(p => p.Name).ShouldBe(["ratings", "reviews"], ignoreOrder: true);
        services.GetProperty("services").GetProperty("reviews").EnumerateArray().Select(t => t.GetString()).ShouldContain("version=v1");

        var healthy = await node.NextAsync(Deadline);
        healthy.GetProperty("event").GetString().ShouldBe("healthy");
        Strings(healthy, "ids").ShouldBe(["r1"]);
        Strings(healthy, "addresses").ShouldBe(["10.0.0.5:8443"]);
        Strings(healthy, "checks").ShouldBe(["passing"]);

        // The watch's first answer is the state now; then it blocks on its index.
        var first = await node.NextAsync(Deadline);
        first.GetProperty("event").GetString().ShouldBe("change");
        Strings(first, "ids").ShouldBe(["r1"]);
        var store = registry.App.Services.GetRequiredService<Mesh.Registry.Store.IRegistryStore>();
        await Poll.UntilAsync(() => store.WaitingWatches > 0, Deadline, "the watch's blocking query parks at the registry");

        var registered = Stopwatch.StartNew();
        await RegisterAsync(reviews, "r2", "https://10.0.0.6:8443");
        var change = await node.NextAsync(Deadline);
        registered.Stop();
        output.WriteLine($"the watch fired {registered.Elapsed.TotalMilliseconds:F0} ms after the registration was acknowledged");

        // Its wait is five minutes: an answer now is the blocking query answering the change.
        change.GetProperty("event").GetString().ShouldBe("change");
        Strings(change, "ids").ShouldBe(["r1", "r2"]);
        long.Parse(change.GetProperty("index").GetString()!, System.Globalization.CultureInfo.InvariantCulture)
            .ShouldBeGreaterThan(long.Parse(first.GetProperty("index").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
    }

    private static List<string> Strings(JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(x => x.GetString()!)];

    private static Task RegisterAsync(HttpClient client, string id, string address) => RegisterAsync(client, "reviews", id, address);

    private static async Task RegisterAsync(HttpClient client, string service, string id, string address)
    {
        using var response = await client.PutAsJsonAsync(new Uri($"/v1/services/{service}/instances/{id}", UriKind.Relative),
            new { address, version = "v1", ttlSeconds = 60 });
        response.IsSuccessStatusCode.ShouldBeTrue(await response.Content.ReadAsStringAsync());
    }
}
