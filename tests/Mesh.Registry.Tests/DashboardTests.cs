using System.Net;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary><c>GET /v1/dashboard</c>: who may read it, and the traffic numbers renewals carry (validated, summed into graph edges).</summary>
public sealed class DashboardTests : IAsyncLifetime
{
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static string Renewal(string address, string stats) =>
        $$"""{ "address": "{{address}}", "version": "v1", "ttlSeconds": 30, "stats": {{stats}} }""";

    private const string GoodStats = """
        { "windowSeconds": 2, "certificateExpiresAt": "2030-01-01T00:00:00+00:00", "destinations": [
            { "service": "ratings", "version": "v1", "requests": 100, "errors": 10, "p50Ms": 2, "p99Ms": 9 } ] }
        """;

    [Fact]
    public async Task Dashboard_needs_the_admin_token()
    {
        using var anonymous = new HttpClient { BaseAddress = _host.Address };
        using var none = await anonymous.GetAsync(new Uri("/v1/dashboard", UriKind.Relative));
        await none.ProblemAsync(HttpStatusCode.Unauthorized);

        using var wrong = await _host.Client("not-a-token").GetAsync(new Uri("/v1/dashboard", UriKind.Relative));
        await wrong.ProblemAsync(HttpStatusCode.Unauthorized);

        using var join = await _host.Client(RegistryHost.ReviewsToken).GetAsync(new Uri("/v1/dashboard", UriKind.Relative));
        await join.ProblemAsync(HttpStatusCode.Forbidden);

        var dashboard = await _host.Admin.GetJsonAsync("/v1/dashboard");
        dashboard.GetProperty("services").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task Renewal_stats_become_graph_edges_and_instance_details()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        (await reviews.PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative), Api.Json(Renewal("http://127.0.0.1:5001", GoodStats))))
            .EnsureSuccessStatusCode();
        (await reviews.PutAsync(new Uri("/v1/services/reviews/instances/r2", UriKind.Relative), Api.Json(Renewal("http://127.0.0.1:5002", """
            { "windowSeconds": 1, "destinations": [ { "service": "Ratings", "version": "v1", "requests": 50, "errors": 0, "p50Ms": 4, "p99Ms": 20 } ] }
            """)))).EnsureSuccessStatusCode(); // the same service: names ignore case
        (await _host.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json("""{ "LoadBalancer": { "Policy": "RoundRobin" } }""")))
            .EnsureSuccessStatusCode();

        var dashboard = await _host.Admin.GetJsonAsync("/v1/dashboard");
        var service = dashboard.GetProperty("services").EnumerateArray().Single();
        service.GetProperty("name").GetString().ShouldBe("reviews");
        service.GetProperty("policyVersion").GetInt64().ShouldBe(1);
        var instances = service.GetProperty("instances").EnumerateArray().ToList();
        instances.Select(i => i.GetProperty("id").GetString()).ShouldBe(["r1", "r2"]);
        instances[0].GetProperty("health").GetString().ShouldBe("healthy");
        instances[0].GetProperty("certificateExpiresAt").GetDateTimeOffset().ShouldBe(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

        var edge = dashboard.GetProperty("edges").EnumerateArray().Single();
        edge.GetProperty("source").GetString().ShouldBe("reviews");
        edge.GetProperty("destination").GetString().ShouldBe("ratings");
        edge.GetProperty("destinationVersion").GetString().ShouldBe("v1");
        edge.GetProperty("requestsPerSecond").GetDouble().ShouldBe(100.0); // 100 over 2 s + 50 over 1 s
        edge.GetProperty("successPercent").GetDouble().ShouldBe(93.33); // 140 of 150
        edge.GetProperty("p99Ms").GetDouble().ShouldBe(20);

        // A deregistered instance's numbers leave the graph with it.
        (await reviews.DeleteAsync(new Uri("/v1/services/reviews/instances/r2", UriKind.Relative))).EnsureSuccessStatusCode();
        dashboard = await _host.Admin.GetJsonAsync("/v1/dashboard");
        dashboard.GetProperty("edges").EnumerateArray().Single().GetProperty("requestsPerSecond").GetDouble().ShouldBe(50.0);
    }

    public static TheoryData<string, string> BadStats() => new()
    {
        { """{ "windowSeconds": 0, "destinations": [] }""", "stats.windowSeconds" },
        { """{ "windowSeconds": 1, "destinations": [ { "service": "../etc", "requests": 1 } ] }""", "stats.destinations[0].service" },
        { """{ "windowSeconds": 1, "destinations": [ { "service": "ratings", "version": "<script>", "requests": 1 } ] }""", "stats.destinations[0].version" },
        { """{ "windowSeconds": 1, "destinations": [ { "service": "ratings", "requests": -1 } ] }""", "stats.destinations[0].requests" },
        { """{ "windowSeconds": 1, "destinations": [ { "service": "ratings", "requests": 1, "errors": 2 } ] }""", "stats.destinations[0].errors" },
        { """{ "windowSeconds": 1, "destinations": [ { "service": "ratings", "requests": 1, "p99Ms": -5 } ] }""", "stats.destinations[0].p99Ms" },
        { """{ "windowSeconds": 1, "destinations": [ { "service": "ratings", "requests": "many" } ] }""", "stats.destinations[0].requests" },
        { "{ \"windowSeconds\": 1, \"destinations\": [" + string.Join(',', Enumerable.Repeat("""{ "service": "a", "requests": 1 }""", 129)) + "] }",
          "stats.destinations" },
    };

    [Theory]
    [MemberData(nameof(BadStats))]
    public async Task Bad_stats_are_refused_with_their_path_and_change_nothing(string stats, string path)
    {
        using var response = await _host.Client(RegistryHost.ReviewsToken)
            .PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative), Api.Json(Renewal("http://127.0.0.1:5001", stats)));
        var body = await response.ProblemAsync(HttpStatusCode.BadRequest);
        body.ShouldContain($"\"{path}\"");

        var dashboard = await _host.Admin.GetJsonAsync("/v1/dashboard");
        dashboard.GetProperty("services").GetArrayLength().ShouldBe(0);
        dashboard.GetProperty("edges").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task A_join_token_holder_cannot_break_the_dashboard_with_a_window_too_short_for_a_finite_rate()
    {
        // Within the bounds (a window above 0, a trillion requests), but their rate overflows a double.
        (await _host.Client(RegistryHost.ReviewsToken).PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative), Api.Json(Renewal(
            "http://127.0.0.1:5001", """{ "windowSeconds": 1e-300, "destinations": [ { "service": "ratings", "requests": 1000000000000 } ] }"""))))
            .EnsureSuccessStatusCode();

        var edge = (await _host.Admin.GetJsonAsync("/v1/dashboard")).GetProperty("edges").EnumerateArray().Single();
        double.IsFinite(edge.GetProperty("requestsPerSecond").GetDouble()).ShouldBeTrue();
    }

    [Fact]
    public async Task A_renewal_without_stats_still_works()
    {
        (await _host.Client(RegistryHost.ReviewsToken).RegisterAsync("reviews", "r1", "http://127.0.0.1:5001")).EnsureSuccessStatusCode();
        var dashboard = await _host.Admin.GetJsonAsync("/v1/dashboard");
        dashboard.GetProperty("services")[0].GetProperty("instances").GetArrayLength().ShouldBe(1);
        dashboard.GetProperty("edges").GetArrayLength().ShouldBe(0);
    }
}

/// <summary>The dashboard page: served by the registry itself, holding no data, under a strict content security policy.</summary>
public sealed class DashboardPageTests : IAsyncLifetime
{
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Theory]
    [InlineData("/", "text/html", "<script src=\"/dashboard/app.js\"")]
    [InlineData("/dashboard/app.js", "text/javascript", "/v1/dashboard")]
    [InlineData("/dashboard/app.css", "text/css", "#graph")]
    public async Task Page_files_are_served_with_a_strict_content_security_policy(string path, string mediaType, string content)
    {
        using var client = new HttpClient { BaseAddress = _host.Address };
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe(mediaType);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        csp.ShouldContain("default-src 'none'");
        csp.ShouldContain("script-src 'self'");
        csp.ShouldNotContain("unsafe-inline");
        csp.ShouldNotContain("unsafe-eval");
        csp.ShouldContain("frame-ancestors 'none'");
        response.Headers.GetValues("X-Content-Type-Options").Single().ShouldBe("nosniff");
        (await response.Content.ReadAsStringAsync()).ShouldContain(content);
    }

    [Fact]
    public async Task The_page_keeps_the_token_out_of_urls_and_markup()
    {
        using var client = new HttpClient { BaseAddress = _host.Address };
        var script = await client.GetStringAsync(new Uri("/dashboard/app.js", UriKind.Relative));
        script.ShouldContain("sessionStorage");
        script.ShouldContain("replaceState");
        script.ShouldNotContain("innerHTML");
        script.ShouldNotContain("localStorage");
        script.ShouldNotContain("?token=");
    }
}
