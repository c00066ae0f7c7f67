using System.Diagnostics.Metrics;
using System.Net;
using Mesh.AspNetCore.RateLimiting;
using Mesh.Client;
using Mesh.Client.Hosting;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;

namespace Mesh.IntegrationTests;

/// <summary>
/// Inbound rate limits on a real Kestrel app in Strict mode: callers are mTLS identities from a test CA, requests are
/// sent byte for byte (the client's own URI canonicalization is off), and the limiters' clock is a
/// <see cref="ManualTimeProvider"/> the test advances.
/// </summary>
public sealed class RateLimitTests : IDisposable
{
    private readonly TestCertificateAuthority _ca = new();
    private readonly ManualTimeProvider _time = new(DateTimeOffset.UtcNow); // certificates are checked against it

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task A_caller_over_the_limit_gets_429_with_Retry_After_before_the_endpoint_runs_and_passes_again_after_the_period()
    {
        await using var app = await LimitedApp.StartAsync(_ca, _time, o => o.RateLimits.Add(Bucket("reviews", 2, ["/reviews/*"], perCaller: true)));
        using var limited = Collect(app);
        using var productpage = Caller("productpage");

        (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/reviews/2")).Status.ShouldBe(200);
        var refused = await app.SendAsync(productpage, "GET", "/reviews/3");
        refused.Status.ShouldBe(429);
        refused.RetryAfter.ShouldBe("10");
        refused.ContentType.ShouldBe("application/problem+json");
        refused.Detail.ShouldContain("'reviews'");
        app.EndpointCalls.ShouldBe(2);

        // Paths no rule names are not counted.
        for (var i = 0; i < 5; i++)
        {
            (await app.SendAsync(productpage, "GET", "/public")).Status.ShouldBe(200);
        }

        // Retry-After counts down to the refill, rounded up to whole seconds.
        _time.Advance(TimeSpan.FromSeconds(3.5));
        (await app.SendAsync(productpage, "GET", "/reviews/3")).RetryAfter.ShouldBe("7");

        _time.Advance(TimeSpan.FromSeconds(6.5));
        (await app.SendAsync(productpage, "GET", "/reviews/3")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/reviews/4")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/reviews/5")).Status.ShouldBe(429);
        app.EndpointCalls.ShouldBe(4);

        limited.Sum(t => t["rule"] == "reviews" && t["source_service"] == "productpage" && t["dry_run"] == "False").ShouldBe(3);
    }

    [Fact]
    public async Task Per_caller_each_identity_has_its_own_bucket_and_shared_all_callers_share_one()
    {
        await using var app = await LimitedApp.StartAsync(_ca, _time, o =>
        {
            o.RateLimits.Add(Bucket("own", 2, ["/reviews/*"], perCaller: true));
            o.RateLimits.Add(Window("shared", 3, ["/public"]));
        });
        using var productpage = Caller("productpage");
        using var ratings = Caller("ratings");

        (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(429);
        (await app.SendAsync(ratings, "GET", "/reviews/1")).Status.ShouldBe(200);
        (await app.SendAsync(ratings, "GET", "/reviews/1")).Status.ShouldBe(200);
        (await app.SendAsync(ratings, "GET", "/reviews/1")).Status.ShouldBe(429);

        (await app.SendAsync(productpage, "GET", "/public")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/public")).Status.ShouldBe(200);
        (await app.SendAsync(ratings, "GET", "/public")).Status.ShouldBe(200);
        var refused = await app.SendAsync(ratings, "GET", "/public");
        refused.Status.ShouldBe(429);
        refused.RetryAfter.ShouldBe("60");
        (await app.SendAsync(productpage, "GET", "/public")).Status.ShouldBe(429);
    }

    [Fact]
    public async Task Unauthenticated_callers_share_one_bucket_apart_from_every_mesh_identity()
    {
        // Permissive: plaintext callers are served, without an identity.
        await using var app = await LimitedApp.StartAsync(_ca, _time, o => o.RateLimits.Add(Bucket("reviews", 1, ["/reviews/*"], perCaller: true)),
            mode: MeshSecurityMode.Permissive);
        using var limited = Collect(app);
        using var anonymous = new HttpClient();
        using var another = new HttpClient();

        (await app.SendAsync(anonymous, "GET", "/reviews/1", ("x-mesh-source-service", "productpage"))).Status.ShouldBe(200);
        (await app.SendAsync(another, "GET", "/reviews/1", ("x-mesh-source-service", "ratings"))).Status.ShouldBe(429);
        limited.Sum(t => t["source_service"] == "unauthenticated").ShouldBe(1);
        limited.Sum(t => t["source_service"] != "unauthenticated").ShouldBe(0);
    }

    [Fact]
    public async Task Headers_naming_another_caller_do_not_change_the_bucket_or_the_metrics_label()
    {
        await using var app = await LimitedApp.StartAsync(_ca, _time, o => o.RateLimits.Add(Bucket("reviews", 3, ["/reviews/*"], perCaller: true)));
        using var productpage = Caller("productpage");
        using var ratings = Caller("ratings");
        (string Name, string Value)[] forgeries =
        [
            ("x-mesh-source-service", "ratings"),
            ("x-forwarded-client-cert", "By=spiffe://mesh.local/svc/reviews;URI=spiffe://mesh.local/svc/ratings"),
            ("x-mesh-caller", "forged-caller"),
            ("x-mesh-source-service", "forged-caller"),
        ];

        // Every forged request counts in productpage's bucket, whoever its headers name.
        var statuses = new List<int>();
        foreach (var (name, value) in forgeries)
        {
            statuses.Add((await app.SendAsync(productpage, "GET", "/reviews/1", (name, value))).Status);
        }

        statuses.ShouldBe([200, 200, 200, 429]);
        (await app.SendAsync(ratings, "GET", "/reviews/1")).Status.ShouldBe(200); // ratings' own bucket is untouched

        var metrics = (await app.SendAsync(productpage, "GET", "/metrics")).Body;
        var lines = metrics.Split('\n').Where(l => l.StartsWith("mesh_rate_limited_total{", StringComparison.Ordinal)).ToList();
        lines.ShouldHaveSingleItem().ShouldContain("source_service=\"productpage\"");
        lines[0].ShouldContain("rule=\"reviews\"");
        lines[0].ShouldContain("dry_run=\"false\"");
        metrics.ShouldNotContain("forged-caller");
    }

    [Fact]
    public async Task Every_spelling_of_a_limited_path_is_limited()
    {
        // One permit each, spent on the canonical spelling; every other spelling that reaches the endpoint is then refused.
        await using var app = await LimitedApp.StartAsync(_ca, _time, o =>
        {
            o.RateLimits.Add(Window("config", 1, ["/config"]));
            o.RateLimits.Add(Window("admin", 1, ["/admin/*"], methods: ["GET"]));
        });
        using var productpage = Caller("productpage");
        (await app.SendAsync(productpage, "GET", "/config")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/admin/secret")).Status.ShouldBe(200);

        string[] config = ["/config", "/CONFIG", "/Config/", "/%63onfig", "/%43ONFIG", "/config/.", "/./config", "/x/../config", "/admin/../config"];
        string[] admin = ["/ADMIN/secret", "/admin/SECRET/", "/%61dmin/secret", "/admin/./secret", "/public/../admin/secret", "/admin/%73ecret", "/admin/a%2Fb"];
        foreach (var target in config)
        {
            (await app.SendAsync(productpage, "GET", target)).Status.ShouldBe(429, target);
        }

        foreach (var target in admin)
        {
            (await app.SendAsync(productpage, "GET", target)).Status.ShouldBe(429, target);
        }

        (await app.SendAsync(productpage, "get", "/admin/secret")).Status.ShouldBe(429);
        (await app.SendAsync(productpage, "POST", "/admin/secret")).Status.ShouldBe(200); // the rule names GET only
        (await app.SendAsync(productpage, "GET", "/configuration")).Status.ShouldBe(200); // an exact path is no prefix
        (await app.SendAsync(productpage, "GET", "/public")).Status.ShouldBe(200);
        app.EndpointCalls.ShouldBe(4);
    }

    [Fact]
    public async Task A_dry_run_rule_never_refuses_but_counts_and_an_enforced_rule_next_to_it_still_refuses()
    {
        await using var app = await LimitedApp.StartAsync(_ca, _time, o =>
        {
            o.RateLimits.Add(Bucket("trial", 1, ["/reviews/*"], dryRun: true));
            o.RateLimits.Add(Bucket("enforced", 4, ["/reviews/*"]));
        });
        using var limited = Collect(app);
        using var productpage = Caller("productpage");

        var statuses = new List<int>();
        for (var i = 0; i < 6; i++)
        {
            statuses.Add((await app.SendAsync(productpage, "GET", "/reviews/1")).Status);
        }

        statuses.ShouldBe([200, 200, 200, 200, 429, 429]);
        limited.Sum(t => t["rule"] == "trial" && t["dry_run"] == "True" && t["source_service"] == "productpage").ShouldBe(5);
        limited.Sum(t => t["rule"] == "enforced" && t["dry_run"] == "False").ShouldBe(2);
        app.EndpointCalls.ShouldBe(4);
    }

    [Fact]
    public async Task Every_matching_rule_must_allow_and_the_first_refusing_one_answers()
    {
        await using var app = await LimitedApp.StartAsync(_ca, _time, o =>
        {
            o.RateLimits.Add(Bucket("per-caller", 5, ["/reviews/*"], perCaller: true));
            o.RateLimits.Add(Window("everyone", 2, [], methods: ["POST"]));
        });
        using var productpage = Caller("productpage");

        (await app.SendAsync(productpage, "POST", "/reviews/1")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "POST", "/reviews/1")).Status.ShouldBe(200);
        var refused = await app.SendAsync(productpage, "POST", "/reviews/1");
        refused.Status.ShouldBe(429);
        refused.Detail.ShouldContain("'everyone'");

        // GET matches only the per-caller rule, which has 5 - 3 = 2 tokens left: the refused POST spent one there.
        (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/reviews/1")).Detail.ShouldContain("'per-caller'");
    }

    [Fact]
    public async Task The_services_own_policy_limits_apply_with_the_mesh_wide_ones()
    {
        // This service's policy, as the registry would serve it.
        await using var app = await LimitedApp.StartAsync(_ca, _time, o =>
            o.Services["reviews"] = new ServicePolicyOptions { RateLimits = [Bucket("from-policy", 1, ["/reviews/*"])] });
        using var productpage = Caller("productpage");

        (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(200);
        (await app.SendAsync(productpage, "GET", "/reviews/1")).Detail.ShouldContain("'from-policy'");
    }

    [Fact]
    public async Task A_reload_keeps_the_buckets_of_unchanged_rules_and_restarts_changed_ones()
    {
        var directory = Directory.CreateTempSubdirectory("mesh-ratelimit-");
        try
        {
            var file = Path.Combine(directory.FullName, "mesh.json");
            static string Json(int limit, bool second) => $$"""
                { "Mesh": { "RateLimits": [
                  { "Name": "reviews", "Paths": [ "/reviews/*" ], "TokenLimit": {{limit}}, "TokensPerPeriod": 1, "ReplenishmentPeriod": "00:01:00" }
                  {{(second ? """, { "Name": "public", "Paths": [ "/public" ], "Limiter": "FixedWindow", "PermitLimit": 1, "Window": "00:01:00" }""" : "")}} ] } }
                """;
            await File.WriteAllTextAsync(file, Json(2, second: false));
            await using var app = await LimitedApp.StartAsync(_ca, _time, _ => { }, configuration: c => c.AddJsonFile(file, optional: false, reloadOnChange: false));
            using var productpage = Caller("productpage");
            (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(200);
            (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(200);
            (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(429);

            // A rule is added; "reviews" is unchanged and stays spent.
            await File.WriteAllTextAsync(file, Json(2, second: true));
            await app.ReloadAsync(rules: 2);
            (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(429);
            (await app.SendAsync(productpage, "GET", "/public")).Status.ShouldBe(200);
            (await app.SendAsync(productpage, "GET", "/public")).Status.ShouldBe(429);

            // "reviews" gets a bigger bucket: a new limiter, full.
            await File.WriteAllTextAsync(file, Json(3, second: true));
            await app.ReloadAsync(rules: 2, limit: 3);
            (await app.SendAsync(productpage, "GET", "/reviews/1")).Status.ShouldBe(200);
            (await app.SendAsync(productpage, "GET", "/public")).Status.ShouldBe(429);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static RateLimitRuleOptions Bucket(string name, int limit, string[] paths, bool perCaller = false, bool dryRun = false) => new()
    {
        Name = name,
        Paths = paths,
        Limiter = RateLimiterKind.TokenBucket,
        TokenLimit = limit,
        TokensPerPeriod = limit,
        ReplenishmentPeriod = TimeSpan.FromSeconds(10),
        PerCaller = perCaller,
        DryRun = dryRun,
    };

    private static RateLimitRuleOptions Window(string name, int limit, string[] paths, string[]? methods = null) => new()
    {
        Name = name,
        Paths = paths,
        Methods = methods ?? [],
        Limiter = RateLimiterKind.FixedWindow,
        PermitLimit = limit,
        Window = TimeSpan.FromMinutes(1),
    };

    private static MetricCollector<long> Collect(LimitedApp app) =>
        new(app.Services.GetRequiredService<IMeterFactory>(), MeshRateLimitMiddleware.MeterName, "mesh.rate_limited");

    private HttpClient Caller(string service) => new(_ca.CreateDirectHandler(_ca.IssueWorkload(service), "reviews"));

    private sealed record Answer(int Status, string Body, string? RetryAfter, string? ContentType)
    {
        /// <summary>The problem's detail, decoded (the JSON escapes quotes).</summary>
        public string Detail => ContentType == "application/problem+json"
            ? System.Text.Json.JsonDocument.Parse(Body).RootElement.GetProperty("detail").GetString()!
            : string.Empty;
    }

    /// <summary>A meshed Strict app with real routes; the endpoints count their calls.</summary>
    private sealed class LimitedApp : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _calls;

        private LimitedApp(WebApplication app) => _app = app;

        public IServiceProvider Services => _app.Services;

        public int EndpointCalls => Volatile.Read(ref _calls);

        private Uri BaseAddress { get; set; } = null!;

        public static async Task<LimitedApp> StartAsync(TestCertificateAuthority ca, TimeProvider time, Action<MeshOptions> configure,
            Action<IConfigurationBuilder>? configuration = null, MeshSecurityMode mode = MeshSecurityMode.Strict)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            configuration?.Invoke(builder.Configuration);
            builder.Services.AddSingleton(time);
            builder.Services.AddMesh(o =>
            {
                o.Service.Name = "reviews";
                o.Security.Mode = mode;
                configure(o);
            });
            builder.Services.AddTestCertificateAuthority(ca, "reviews");
            var app = builder.Build();
            var limited = new LimitedApp(app);
            app.UseMesh();
            string Serve(string what)
            {
                Interlocked.Increment(ref limited._calls);
                return what;
            }

            app.MapGet("/reviews/{id}", (string id) => Serve("review " + id));
            app.MapPost("/reviews/{id}", (string id) => Serve("posted " + id));
            app.MapGet("/config", () => Serve("config"));
            app.MapGet("/configuration", () => Serve("configuration"));
            app.MapGet("/admin/{name}", (string name) => Serve("admin " + name));
            app.MapPost("/admin/{name}", (string name) => Serve("admin post " + name));
            app.MapGet("/public", () => "public");
            app.MapMeshEndpoints();
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            limited.BaseAddress = new Uri($"{(mode == MeshSecurityMode.Strict ? "https" : "http")}://127.0.0.1:{new Uri(address).Port}/");
            return limited;
        }

        public async Task<Answer> SendAsync(HttpClient http, string method, string target, params (string Name, string Value)[] headers)
        {
            // The target is sent as spelled: no dot-segment removal, no unescaping.
            var uri = new Uri(BaseAddress.GetLeftPart(UriPartial.Authority) + target,
                new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
            using var message = new HttpRequestMessage(new HttpMethod(method), uri);
            foreach (var (name, value) in headers)
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }

            using var response = await http.SendAsync(message);
            return new Answer((int)response.StatusCode, await response.Content.ReadAsStringAsync(),
                response.Headers.TryGetValues("Retry-After", out var retry) ? retry.Single() : null,
                response.Content.Headers.ContentType?.MediaType);
        }

        /// <summary>Reloads the configuration and waits until the rules in force are the ones expected.</summary>
        public async Task ReloadAsync(int rules, int limit = 2)
        {
            ((IConfigurationRoot)_app.Configuration).Reload();
            var middleware = _app.Services.GetRequiredService<MeshRateLimitMiddleware>();
            var inbound = _app.Services.GetRequiredService<MeshInbound>();
            await Poll.UntilAsync(() => middleware.Table is { } table && table.Rules.Length == rules &&
                inbound.Model.RateLimitRules[0].Limit == limit && table.Rules[0].LimiterKey == RateLimitRule.KeyOf(inbound.Model.RateLimitRules[0]),
                because: "the reloaded rules are in force");
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
