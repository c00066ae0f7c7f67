using System.Globalization;
using System.Net;
using System.Text.Json;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>The registry's read-only subset of Consul's HTTP API, with blocking queries on its watch index.</summary>
public sealed class ConsulApiTests : IAsyncLifetime
{
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private HttpClient Consul(string? token = RegistryHost.AdminToken)
    {
        var client = _host.Client(null);
        if (token is not null)
        {
            client.DefaultRequestHeaders.Add("X-Consul-Token", token);
        }

        return client;
    }

    private async Task RegisterAsync(string service, string id, string address, string? version, string? zone = null, string labels = "{}")
    {
        using var response = await _host.Client(RegistryHost.JoinToken(service)).PutAsync(
            new Uri($"/v1/services/{service}/instances/{id}", UriKind.Relative), Api.Json(Api.Registration(address, version: version, zone: zone, labels: labels)));
        response.IsSuccessStatusCode.ShouldBeTrue(await response.Content.ReadAsStringAsync());
    }

    private static long ConsulIndex(HttpResponseMessage response) =>
        long.Parse(response.Headers.GetValues("X-Consul-Index").Single(), CultureInfo.InvariantCulture);

    [Fact]
    public async Task The_catalog_and_health_reads_show_instances_as_Consul_does()
    {
        await RegisterAsync("reviews", "r1", "https://10.0.0.5:8443", "v1", "zone-a", """{ "team": "books" }""");
        await RegisterAsync("reviews", "r2", "http://10.0.0.6:8080", "v2");
        await RegisterAsync("ratings", "t1", "http://10.0.0.7:9000", null);
        var consul = Consul();

        var services = await consul.GetJsonAsync("/v1/catalog/services");
        services.EnumerateObject().Select(p => p.Name).ShouldBe(["ratings", "reviews"], ignoreOrder: true);
        services.GetProperty("reviews").EnumerateArray().Select(t => t.GetString()).ShouldBe(["https", "version=v1", "version=v2", "zone=zone-a"], ignoreOrder: true);
        services.GetProperty("ratings").GetArrayLength().ShouldBe(0);

        var catalog = await consul.GetJsonAsync("/v1/catalog/service/reviews");
        var r1 = catalog.EnumerateArray().Single(e => e.GetProperty("ServiceID").GetString() == "r1");
        r1.GetProperty("ServiceName").GetString().ShouldBe("reviews");
        r1.GetProperty("ServiceAddress").GetString().ShouldBe("10.0.0.5");
        r1.GetProperty("Address").GetString().ShouldBe("10.0.0.5");
        r1.GetProperty("ServicePort").GetInt32().ShouldBe(8443);
        r1.GetProperty("Datacenter").GetString().ShouldBe("dc1");
        r1.GetProperty("ServiceMeta").GetProperty("team").GetString().ShouldBe("books");
        r1.GetProperty("ServiceTags").EnumerateArray().Select(t => t.GetString()).ShouldBe(["version=v1", "zone=zone-a", "https"]);

        var health = await consul.GetJsonAsync("/v1/health/service/reviews?passing");
        health.GetArrayLength().ShouldBe(2);
        var entry = health.EnumerateArray().Single(e => e.GetProperty("Service").GetProperty("ID").GetString() == "r2");
        entry.GetProperty("Node").GetProperty("Node").GetString().ShouldBe("10.0.0.6");
        entry.GetProperty("Service").GetProperty("Service").GetString().ShouldBe("reviews");
        entry.GetProperty("Service").GetProperty("Port").GetInt32().ShouldBe(8080);
        entry.GetProperty("Checks")[0].GetProperty("Status").GetString().ShouldBe("passing");
        entry.GetProperty("Checks")[0].GetProperty("ServiceID").GetString().ShouldBe("r2");

        // Consul's tag filter, and names in any case, as the registry keeps them.
        var v2 = await consul.GetJsonAsync("/v1/health/service/Reviews?passing=true&tag=version%3Dv2");
        v2.EnumerateArray().Select(e => e.GetProperty("Service").GetProperty("ID").GetString()).ShouldBe(["r2"]);
        (await consul.GetJsonAsync("/v1/health/service/unknown")).GetArrayLength().ShouldBe(0);

        var self = await consul.GetJsonAsync("/v1/agent/self");
        self.GetProperty("Config").GetProperty("Datacenter").GetString().ShouldBe("dc1");
        (await consul.GetJsonAsync("/v1/health/service/reviews?dc=dc1")).GetArrayLength().ShouldBe(2);
        await consul.GetJsonAsync("/v1/health/service/reviews?dc=elsewhere", HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_blocking_query_waits_at_the_current_index_and_answers_a_change_with_the_new_index()
    {
        await RegisterAsync("reviews", "r1", "http://10.0.0.5:8080", "v1");
        var consul = Consul();
        long index;
        using (var first = await consul.GetAsync(new Uri("/v1/health/service/reviews", UriKind.Relative)))
        {
            first.StatusCode.ShouldBe(HttpStatusCode.OK);
            index = ConsulIndex(first);
            index.ShouldBeGreaterThan(0);
        }

        var store = _host.Store;
        var waiting = store.WaitingWatches;
        var blocked = consul.GetAsync(new Uri($"/v1/health/service/reviews?index={index}&wait=5m", UriKind.Relative));
        await Poll.UntilAsync(() => store.WaitingWatches > waiting, because: "the blocking query parks on the service's index");
        blocked.IsCompleted.ShouldBeFalse();

        await RegisterAsync("reviews", "r2", "http://10.0.0.6:8080", "v1");
        using var changed = await blocked;
        changed.StatusCode.ShouldBe(HttpStatusCode.OK);
        ConsulIndex(changed).ShouldBeGreaterThan(index);
        (await changed.ReadJsonAsync()).GetArrayLength().ShouldBe(2);

        // The catalog blocks on the global index the same way.
        using var catalog = await consul.GetAsync(new Uri("/v1/catalog/services", UriKind.Relative));
        var catalogIndex = ConsulIndex(catalog);
        waiting = store.WaitingWatches;
        var blockedCatalog = consul.GetAsync(new Uri($"/v1/catalog/services?index={catalogIndex}&wait=5m", UriKind.Relative));
        await Poll.UntilAsync(() => store.WaitingWatches > waiting, because: "the catalog query parks on the global index");
        blockedCatalog.IsCompleted.ShouldBeFalse();
        await RegisterAsync("ratings", "t1", "http://10.0.0.7:9000", null);
        using var catalogChanged = await blockedCatalog;
        ConsulIndex(catalogChanged).ShouldBeGreaterThan(catalogIndex);
        (await catalogChanged.ReadJsonAsync()).TryGetProperty("ratings", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Tokens_come_as_Consul_sends_them_and_bad_ones_are_refused_with_403()
    {
        (await Consul(RegistryHost.ReviewsToken).GetJsonAsync("/v1/catalog/services")).ValueKind.ShouldBe(JsonValueKind.Object);
        (await _host.Client(null).GetJsonAsync($"/v1/catalog/services?token={RegistryHost.RatingsToken}")).ValueKind.ShouldBe(JsonValueKind.Object);
        (await _host.Client(RegistryHost.AdminToken).GetJsonAsync("/v1/catalog/services")).ValueKind.ShouldBe(JsonValueKind.Object);

        foreach (var client in new[] { Consul("not-a-token"), Consul(null), _host.Client(null) })
        {
            using var response = await client.GetAsync(new Uri("/v1/health/service/reviews?token=wrong", UriKind.Relative));
            response.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        }

        using var missing = await Consul(null).GetAsync(new Uri("/v1/catalog/services", UriKind.Relative));
        missing.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task No_spelling_of_a_Consul_path_reads_without_a_token_or_writes_with_one()
    {
        await RegisterAsync("reviews", "r1", "http://10.0.0.5:8080", "v1", labels: """{ "team": "books" }""");
        string[] reads =
        [
            "/v1/catalog/services", "/V1/CATALOG/SERVICES", "/v1/catalog/services/", "/v1//catalog/services", "/v1/./catalog/services",
            "/v1/x/../catalog/services", "/v1/catalog/service/reviews", "/v1/Catalog/Service/REVIEWS/", "/v1/health/service/reviews?passing",
            "/v1/health/service/%72eviews", "/v1/health%2Fservice/reviews", "/v1/agent/self", "/v1/AGENT/self/",
        ];
        foreach (var path in reads)
        {
            using var anonymous = await Consul(null).GetAsync(new Uri(path, UriKind.Relative));
            ((int)anonymous.StatusCode).ShouldBeOneOf([403, 404], path);
            (await anonymous.Content.ReadAsStringAsync()).ShouldNotContain("books", customMessage: path);
            using var read = await Consul(RegistryHost.ReviewsToken).GetAsync(new Uri(path, UriKind.Relative));
            ((int)read.StatusCode).ShouldBeOneOf([200, 404], path);
        }

        string[] writes = ["/v1/catalog/register", "/V1/Catalog/Register/", "/v1/agent/service/register", "/v1/catalog/service/reviews",
            "/v1/health/service/reviews", "/v1/agent/service/deregister/r1", "/v1/catalog/deregister"];
        foreach (var path in writes)
        {
            foreach (var method in new[] { HttpMethod.Put, HttpMethod.Post, HttpMethod.Delete, HttpMethod.Patch })
            {
                using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative))
                {
                    Content = Api.Json("""{ "Node": "n", "Address": "10.9.9.9", "Service": { "Service": "reviews", "ID": "evil", "Port": 22 } }"""),
                };
                using var response = await Consul().SendAsync(request);
                response.StatusCode.ShouldBe(HttpStatusCode.MethodNotAllowed, $"{method} {path}");
            }
        }

        var instances = await Consul().GetJsonAsync("/v1/catalog/service/reviews");
        instances.EnumerateArray().Select(e => e.GetProperty("ServiceID").GetString()).ShouldBe(["r1"]);
    }

    [Fact]
    public async Task Writes_are_refused_naming_the_registry_API_and_other_paths_are_not_found()
    {
        var consul = Consul();
        using (var register = await consul.PutAsync(new Uri("/v1/catalog/register", UriKind.Relative), Api.Json("""{ "Node": "n", "Address": "10.0.0.5" }""")))
        {
            register.StatusCode.ShouldBe(HttpStatusCode.MethodNotAllowed);
            register.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
            (await register.Content.ReadAsStringAsync()).ShouldContain("PUT /v1/services/{service}/instances/{id}");
        }

        using (var agent = await consul.PutAsync(new Uri("/v1/agent/service/register", UriKind.Relative), Api.Json("{}")))
        {
            agent.StatusCode.ShouldBe(HttpStatusCode.MethodNotAllowed);
        }

        using (var deregister = await consul.DeleteAsync(new Uri("/v1/agent/service/deregister/r1", UriKind.Relative)))
        {
            deregister.StatusCode.ShouldBe(HttpStatusCode.MethodNotAllowed);
        }

        foreach (var path in new[] { "/v1/catalog/nodes", "/v1/kv/config" })
        {
            using var other = await consul.GetAsync(new Uri(path, UriKind.Relative));
            other.StatusCode.ShouldBe(HttpStatusCode.NotFound, path);
            other.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json", path);
        }
    }

    [Fact]
    public void An_instance_held_past_its_lease_is_critical_and_left_out_of_passing()
    {
        var now = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        var record = new Mesh.Client.Registry.InstanceRecord
        {
            Id = "r1", Service = "reviews", Address = "https://[fd00::5]:8443", Version = "v1", ExpiresAt = now.AddSeconds(-1),
        };
        var held = Mesh.Registry.Consul.ConsulInstance.From(record, now);
        held.Passing.ShouldBeFalse();
        held.Host.ShouldBe("fd00::5");
        held.Port.ShouldBe(8443);
        held.Tags.ShouldBe(["version=v1", "https"]);
        Mesh.Registry.Consul.ConsulInstance.From(record, now.AddSeconds(-2)).Passing.ShouldBeTrue();
    }
}
