using System.Net;
using System.Text.Json;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary><c>GET /v1/prometheus/targets</c>: Prometheus HTTP service discovery over the registry's instances.</summary>
public sealed class PrometheusTargetsTests : IAsyncLifetime
{
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Every_instance_is_a_target_group_with_its_labels_and_scrape_address()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        using (var r = await reviews.PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative),
                   Api.Json(Api.Registration("https://10.0.0.5:8443", version: "v2", zone: "zone-a", labels: """{ "team": "books", "tier.level/x": "1" }"""))))
        {
            r.IsSuccessStatusCode.ShouldBeTrue(await r.Content.ReadAsStringAsync());
        }

        using (var r = await reviews.PutAsync(new Uri("/v1/services/reviews/instances/r2", UriKind.Relative),
                   Api.Json(Api.Registration("https://10.0.0.6:8443", version: null, labels: """{ "mesh/metrics-address": "http://10.0.0.6:9464" }"""))))
        {
            r.IsSuccessStatusCode.ShouldBeTrue(await r.Content.ReadAsStringAsync());
        }

        var ratings = _host.Client(RegistryHost.RatingsToken);
        await ratings.RegisterIndexAsync("ratings", "t1", "http://127.0.0.1:5003");

        // Any valid token reads, as every read of the registry.
        var groups = await ratings.GetJsonAsync("/v1/prometheus/targets");
        groups.ValueKind.ShouldBe(JsonValueKind.Array);
        var byId = groups.EnumerateArray().ToDictionary(g => g.GetProperty("labels").GetProperty("instance_id").GetString()!);
        byId.Keys.ShouldBe(["r1", "r2", "t1"], ignoreOrder: true);

        var r1 = byId["r1"];
        r1.GetProperty("targets").EnumerateArray().Select(t => t.GetString()).ShouldBe(["10.0.0.5:8443"]);
        var labels = r1.GetProperty("labels");
        labels.GetProperty("__scheme__").GetString().ShouldBe("https");
        labels.GetProperty("__metrics_path__").GetString().ShouldBe("/metrics");
        labels.GetProperty("service").GetString().ShouldBe("reviews");
        labels.GetProperty("version").GetString().ShouldBe("v2");
        labels.GetProperty("zone").GetString().ShouldBe("zone-a");
        labels.GetProperty("__meta_mesh_address").GetString().ShouldBe("https://10.0.0.5:8443");
        labels.GetProperty("__meta_mesh_label_team").GetString().ShouldBe("books");
        labels.GetProperty("__meta_mesh_label_tier_level_x").GetString().ShouldBe("1");

        // The metrics listener, plaintext, is where a Strict instance is scraped.
        var r2 = byId["r2"];
        r2.GetProperty("targets").EnumerateArray().Select(t => t.GetString()).ShouldBe(["10.0.0.6:9464"]);
        r2.GetProperty("labels").GetProperty("__scheme__").GetString().ShouldBe("http");
        r2.GetProperty("labels").TryGetProperty("version", out _).ShouldBeFalse();

        byId["t1"].GetProperty("labels").GetProperty("__scheme__").GetString().ShouldBe("http");
        byId["t1"].GetProperty("targets")[0].GetString().ShouldBe("127.0.0.1:5003");

        // A deregistered instance is no target any more.
        (await reviews.DeleteAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var after = await ratings.GetJsonAsync("/v1/prometheus/targets");
        after.EnumerateArray().Select(g => g.GetProperty("labels").GetProperty("instance_id").GetString()).ShouldBe(["r2", "t1"], ignoreOrder: true);
    }

    [Fact]
    public async Task Labels_that_a_labelmap_would_turn_into_scrape_settings_or_identity_are_left_out()
    {
        // With the documented relabelling (labelmap of __meta_mesh_label_(.+)), these keys would set where and how
        // Prometheus scrapes (__address__, __metrics_path__, __param_*, __scheme__) or overwrite who the series are from.
        var labels = """
            { "__address__": "10.9.9.9:22", "-_metrics_path__": "/admin/reset", "._param_target": "10.9.9.9", "/_scheme__": "https",
              "service": "ratings", "instance_id": "t1", "version": "v9", "zone": "zone-z", "job": "other", "instance": "10.0.0.9:80",
              "team": "books", "_tier": "gold" }
            """;
        using (var r = await _host.Client(RegistryHost.ReviewsToken).PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative),
                   Api.Json(Api.Registration("http://10.0.0.5:8080", version: null, labels: labels))))
        {
            r.IsSuccessStatusCode.ShouldBeTrue(await r.Content.ReadAsStringAsync());
        }

        var group = (await _host.Client(RegistryHost.AdminToken).GetJsonAsync("/v1/prometheus/targets")).EnumerateArray().Single();
        var written = group.GetProperty("labels");
        written.GetProperty("service").GetString().ShouldBe("reviews");
        written.GetProperty("instance_id").GetString().ShouldBe("r1");
        written.GetProperty("__meta_mesh_label_team").GetString().ShouldBe("books");
        written.GetProperty("__meta_mesh_label__tier").GetString().ShouldBe("gold");

        const string prefix = "__meta_mesh_label_";
        var mapped = written.EnumerateObject().Where(l => l.Name.StartsWith(prefix, StringComparison.Ordinal)).Select(l => l.Name[prefix.Length..]).ToList();
        mapped.ShouldBe(["team", "_tier"], ignoreOrder: true);
    }

    [Fact]
    public async Task Discovery_needs_a_valid_token()
    {
        (await _host.Client(null).GetJsonAsync("/v1/prometheus/targets", HttpStatusCode.Unauthorized)).GetProperty("status").GetInt32().ShouldBe(401);
        await _host.Client("not-a-token").GetJsonAsync("/v1/prometheus/targets", HttpStatusCode.Unauthorized);
        (await _host.Client(RegistryHost.AdminToken).GetJsonAsync("/v1/prometheus/targets")).GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task A_metrics_address_that_is_not_a_url_is_refused_with_its_path()
    {
        using var response = await _host.Client(RegistryHost.ReviewsToken).PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative),
            Api.Json(Api.Registration("http://127.0.0.1:5001", labels: """{ "mesh/metrics-address": "ftp://10.0.0.6/metrics" }""")));
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var problem = await response.ReadJsonAsync();
        problem.GetProperty("errors").TryGetProperty("labels.mesh/metrics-address", out _).ShouldBeTrue(problem.ToString());
    }
}
