using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.IntegrationTests;

/// <summary>
/// Authorization holds for every spelling of a path that the router accepts. A real Kestrel app with real routes sits
/// behind <c>UseMesh()</c>; FsCheck generates spellings of its paths (letter case, <c>%xx</c> of unreserved characters,
/// <c>./</c>, <c>x/../</c>, duplicate and trailing slashes, method case) and spellings that have no single reading
/// (encoded slash or backslash, NUL, double encoding, invalid UTF-8). They are sent byte for byte (the client's own
/// URI canonicalization is off). No request may reach a denied endpoint; a denied target answers 403 (400 when
/// ambiguous); an allowed target answers 200 whenever the router routes its spelling. Both rule shapes (a deny list
/// and an allow list) run in Strict (mTLS callers) and Permissive (plaintext callers).
/// </summary>
public sealed class AuthorizationPathTests : IDisposable
{
    /// <summary>The seed of the generated spellings: fixed, so a failure replays; change it to explore.</summary>
    private const ulong Seed = 0x5eed_16;
    private const int Cases = 150;

    private static readonly Target[] Targets =
    [
        new("GET", ["admin", "secret"], Denied: true),
        new("GET", ["admin", "7"], Denied: true),
        new("POST", ["admin", "7"], Denied: true),
        new("GET", ["config"], Denied: true),
        new("DELETE", ["items", "3"], Denied: true),
        new("GET", ["items", "3"], Denied: false),
        new("GET", ["public", "info"], Denied: false),
        new("GET", ["configuration"], Denied: false),
    ];

    private readonly TestCertificateAuthority _ca = new();

    public void Dispose() => _ca.Dispose();

    public enum RuleShape
    {
        /// <summary>Everyone may call every path, except what DENY rules name.</summary>
        DenyList,

        /// <summary>Only what ALLOW rules name may be called.</summary>
        AllowList,
    }

    [Theory]
    [InlineData(MeshSecurityMode.Strict, RuleShape.DenyList)]
    [InlineData(MeshSecurityMode.Strict, RuleShape.AllowList)]
    [InlineData(MeshSecurityMode.Permissive, RuleShape.DenyList)]
    [InlineData(MeshSecurityMode.Permissive, RuleShape.AllowList)]
    public async Task NoSpellingOfADeniedPathReachesItsEndpoint(MeshSecurityMode mode, RuleShape shape)
    {
        await using var app = await RoutedApp.StartAsync(_ca, mode, shape);
        using var http = CreateCaller(mode);
        var failures = new List<string>();

        foreach (var request in Gen.Sample(Spellings(), 20, new Rnd(Seed), Cases))
        {
            var (status, body) = await SendAsync(http, app.BaseAddress, request);
            var problem = Judge(request, status, body);
            if (problem is not null)
            {
                failures.Add($"{request.Method} {request.Target} ({request.Intended.Method} {request.Intended.Path}): {status} {body} -- {problem}");
            }
        }

        failures.ShouldBeEmpty();
        app.DeniedEndpointCalls.ShouldBe(0);
    }

    [Theory]
    [InlineData(MeshSecurityMode.Strict)]
    [InlineData(MeshSecurityMode.Permissive)]
    public async Task TheReportedBypassesAreRefused(MeshSecurityMode mode)
    {
        await using var app = await RoutedApp.StartAsync(_ca, mode, RuleShape.DenyList);
        using var http = CreateCaller(mode);

        // Spellings of denied paths that differ from the rule's (case, percent-encoding, a trailing slash): only a
        // canonical path makes each of them meet the deny rule.
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/ADMIN/SECRET"))).Status.ShouldBe(403);
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/%41DMIN/secret"))).Status.ShouldBe(403);
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/config/"))).Status.ShouldBe(403);
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/config/."))).Status.ShouldBe(403);
        (await SendAsync(http, app.BaseAddress, Raw("DELETE", "/ITEMS/1"))).Status.ShouldBe(403);
        (await SendAsync(http, app.BaseAddress, Raw("delete", "/items/1"))).Status.ShouldBe(403);

        // No single reading: refused before the app, with a problem that says why.
        var (status, body) = await SendAsync(http, app.BaseAddress, Raw("GET", "/admin/a%2Fb"));
        status.ShouldBe(400);
        body.ShouldContain("no single reading");
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/admin/%2541"))).Status.ShouldBe(400);
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/public/%C3%28"))).Status.ShouldBe(400);

        // What is allowed stays allowed, in any case.
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/PUBLIC/Info/"))).Status.ShouldBe(200);
        (await SendAsync(http, app.BaseAddress, Raw("get", "/items/3"))).Status.ShouldBe(200);
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/config-x"))).Status.ShouldBe(200); // an exact rule is no prefix
        app.DeniedEndpointCalls.ShouldBe(0);
    }

    [Theory]
    [InlineData(MeshSecurityMode.Strict)]
    [InlineData(MeshSecurityMode.Permissive)]
    public async Task WithAPathBaseRulesWrittenAsTheRoutesHoldWithAndWithoutTheBase(MeshSecurityMode mode)
    {
        // UsePathBase("/api") routes "/api/admin/x" and "/admin/x" to the same endpoint; rules name the route's path.
        await using var app = await RoutedApp.StartAsync(_ca, mode, RuleShape.DenyList, pathBase: "/api");
        using var http = CreateCaller(mode);

        foreach (var target in new[] { "/api/admin/x", "/admin/x", "/API/Admin/x", "/api/ADMIN/secret", "/api/config", "/config/", "/Api/config" })
        {
            (await SendAsync(http, app.BaseAddress, Raw("GET", target))).Status.ShouldBe(403, target);
        }

        (await SendAsync(http, app.BaseAddress, Raw("DELETE", "/api/items/3"))).Status.ShouldBe(403);
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/api/items/3"))).Body.ShouldBe("allowed:items/3");
        (await SendAsync(http, app.BaseAddress, Raw("GET", "/public/info"))).Body.ShouldBe("allowed:public/info");
        app.DeniedEndpointCalls.ShouldBe(0);
    }

    [Fact]
    public async Task RulesWrittenWithThePathBaseHoldForRequestsThatCarryIt()
    {
        // Against the documented convention, but it must fail closed for requests with the base: the route, and the
        // path a route default leads to, are tried with the base in front.
        await using var app = await RoutedApp.StartAsync(_ca, MeshSecurityMode.Permissive, RuleShape.DenyList, pathBase: "/api",
            rules: ["/api/admin/*", "/api/config", "/api/reports/summary"]);
        using var http = CreateCaller(MeshSecurityMode.Permissive);

        foreach (var target in new[] { "/api/admin/x", "/API/admin/secret", "/api/config/", "/api/reports", "/api/reports/summary" })
        {
            (await SendAsync(http, app.BaseAddress, Raw("GET", target))).Status.ShouldBe(403, target);
        }

        app.DeniedEndpointCalls.ShouldBe(0);
    }

    [Theory]
    [InlineData(MeshSecurityMode.Strict)]
    [InlineData(MeshSecurityMode.Permissive)]
    public async Task AnExactDenyCoversAShorterPathThatARouteDefaultLeadsToIt(MeshSecurityMode mode)
    {
        // "/reports/{kind=summary}" serves the summary at "/reports" too.
        await using var app = await RoutedApp.StartAsync(_ca, mode, RuleShape.DenyList);
        using var http = CreateCaller(mode);

        foreach (var target in new[] { "/reports", "/reports/", "/Reports/summary", "/reports/SUMMARY" })
        {
            (await SendAsync(http, app.BaseAddress, Raw("GET", target))).Status.ShouldBe(403, target);
        }

        (await SendAsync(http, app.BaseAddress, Raw("GET", "/reports/daily"))).Body.ShouldBe("allowed:reports/daily");
        app.DeniedEndpointCalls.ShouldBe(0);
    }

    private static string? Judge(Spelling request, int status, string body)
    {
        if (body.StartsWith("denied-endpoint", StringComparison.Ordinal))
        {
            return "reached a denied endpoint";
        }

        if (request.Ambiguous)
        {
            return status == 400 ? null : "expected 400 for a path with no single reading";
        }

        if (request.Intended.Denied)
        {
            return status == 403 ? null : "expected 403";
        }

        if (request.DuplicateSlash)
        {
            // The router does not route "//"; the mesh must not refuse it for being an allowed path in disguise.
            return status is 200 or 404 ? null : "expected 200, or 404 where the router does not route the spelling";
        }

        // Route values keep the spelling's case.
        return status == 200 && string.Equals(body, "allowed:" + string.Join('/', request.Intended.Segments), StringComparison.OrdinalIgnoreCase) ? null : "expected the allowed endpoint's 200";
    }

    private HttpClient CreateCaller(MeshSecurityMode mode)
    {
        if (mode == MeshSecurityMode.Permissive)
        {
            return new HttpClient(); // a plaintext caller: no identity
        }

        var certificate = _ca.IssueWorkload("productpage");
        return new HttpClient(_ca.CreateDirectHandler(certificate, "reviews"));
    }

    private static async Task<(int Status, string Body)> SendAsync(HttpClient http, Uri baseAddress, Spelling request)
    {
        // The client must send the target as spelled: no dot-segment removal, no unescaping.
        var uri = new Uri(baseAddress.GetLeftPart(UriPartial.Authority) + request.Target,
            new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), uri);
        using var response = await http.SendAsync(message);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static Spelling Raw(string method, string target) =>
        new(method, target, new Target(method, [], Denied: false), Ambiguous: false, DuplicateSlash: false);

    /// <summary>Requests for the targets, each spelled one of many ways, some of them with no single reading.</summary>
    private static Gen<Spelling> Spellings() =>
        from target in Gen.Elements(Targets)
        from method in SpelledMethod(target.Method)
        from segments in Gen.CollectToArray(target.Segments, SpelledSegment)
        from separators in Gen.ArrayOf(Separator(), target.Segments.Length)
        from trailing in Gen.Elements("", "", "/", "/.", "/./")
        from ambiguity in Gen.Frequency((3, Gen.Constant(-1)), (1, Gen.Choose(0, Ambiguities.Length - 1)))
        select Build(target, method, segments, separators, trailing, ambiguity);

    private static readonly string[] Ambiguities = ["%2F", "%2f", "%5C", "%5c", "%00", "%2541", "%C3%28", "%FF"];

    private static Spelling Build(Target target, string method, string[] segments, string[] separators, string trailing, int ambiguity)
    {
        var path = new StringBuilder();
        for (var i = 0; i < segments.Length; i++)
        {
            var separator = separators[i];
            if (ambiguity >= 0 && i == segments.Length - 1)
            {
                // An encoded separator replaces the last slash; the other ambiguities are put inside the last segment.
                separator = Ambiguities[ambiguity] is "%2F" or "%2f" or "%5C" or "%5c" && i > 0 ? Ambiguities[ambiguity] : separator;
                path.Append(separator).Append(segments[i]);
                if (separator != Ambiguities[ambiguity])
                {
                    path.Append(Ambiguities[ambiguity]);
                }

                continue;
            }

            path.Append(separator).Append(segments[i]);
        }

        path.Append(trailing);
        var text = path.ToString();
        return new Spelling(method, text, target, Ambiguous: ambiguity >= 0, DuplicateSlash: text.Contains("//", StringComparison.Ordinal));
    }

    /// <summary>A "/" before a segment, or one with detours that routing removes ("./", "x/../") or does not ("//").</summary>
    private static Gen<string> Separator() =>
        Gen.Frequency(
            (6, Gen.Constant("/")),
            (1, Gen.Elements("/./", "/././")),
            (1, Gen.Elements("/x/../", "/zz/../", "/admin/../", "/public/../", "/a/b/../../")),
            (1, Gen.Elements("//", "/.//", "/x/..//")));

    private static Gen<string> SpelledSegment(string segment) =>
        from chars in Gen.CollectToArray(segment, SpelledChar)
        select string.Concat(chars);

    /// <summary>A character as itself, in the other case, or percent-encoded in either hex case.</summary>
    private static Gen<string> SpelledChar(char c) =>
        Gen.Frequency(
            (4, Gen.Constant(c.ToString())),
            (2, Gen.Constant(char.IsAsciiLetterLower(c) ? char.ToUpperInvariant(c).ToString() : char.ToLowerInvariant(c).ToString())),
            (1, Gen.Constant($"%{(int)c:X2}")),
            (1, Gen.Constant($"%{(int)c:x2}")));

    /// <summary>The method in its own case or another: ASP.NET Core routes "get" to a GET endpoint.</summary>
    private static Gen<string> SpelledMethod(string method) =>
        Gen.Elements(method, method.ToLowerInvariant(), char.ToUpperInvariant(method[0]) + method[1..].ToLowerInvariant());

    private sealed record Target(string Method, string[] Segments, bool Denied)
    {
        public string Path => "/" + string.Join('/', Segments);
    }

    private sealed record Spelling(string Method, string Target, Target Intended, bool Ambiguous, bool DuplicateSlash);

    /// <summary>A meshed app with real routes, some of which the rules deny; denied endpoints count their calls.</summary>
    private sealed class RoutedApp : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _deniedCalls;

        private RoutedApp(WebApplication app) => _app = app;

        public Uri BaseAddress { get; private set; } = null!;

        public int DeniedEndpointCalls => Volatile.Read(ref _deniedCalls);

        public static async Task<RoutedApp> StartAsync(TestCertificateAuthority ca, MeshSecurityMode mode, RuleShape shape, string? pathBase = null,
            string[]? rules = null)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            builder.Services.AddMesh(o =>
            {
                o.Service.Name = "reviews";
                o.Security.Mode = mode;
                if (shape == RuleShape.DenyList)
                {
                    o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/*"] });
                    o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = rules ?? ["/admin/*", "/config", "/reports/summary"] });
                    o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/items/*"], Methods = ["DELETE"] });
                }
                else
                {
                    o.Authorization.Add(new AuthorizationRuleOptions
                    {
                        Action = AuthorizationAction.Allow,
                        Paths = ["/public/*", "/items/*", "/configuration"],
                        Methods = ["GET"],
                    });
                }
            });
            builder.Services.AddTestCertificateAuthority(ca, "reviews");
            var app = builder.Build();
            var routed = new RoutedApp(app);
            if (pathBase is not null)
            {
                // The documented order: the path base, then routing, then the mesh.
                app.UsePathBase(pathBase);
                app.UseRouting();
            }

            app.UseMesh();
            Task<string> Denied(string name)
            {
                Interlocked.Increment(ref routed._deniedCalls);
                return Task.FromResult("denied-endpoint:" + name);
            }

            app.MapGet("/admin/secret", () => Denied("admin/secret"));
            app.MapGet("/admin/{id}", (string id) => Denied("admin/{id}"));
            app.MapPost("/admin/{id}", (string id) => Denied("POST admin/{id}"));
            app.MapGet("/config", () => Denied("config"));
            app.MapDelete("/items/{id}", (string id) => Denied("DELETE items/{id}"));
            app.MapGet("/items/{id}", (string id) => "allowed:items/" + id);
            app.MapGet("/public/{name}", (string name) => "allowed:public/" + name);
            app.MapGet("/configuration", () => "allowed:configuration");
            app.MapGet("/reports/{kind=summary}", (string kind) => kind == "summary" ? Denied("reports/summary") : Task.FromResult("allowed:reports/" + kind));
            app.MapFallback(() => "catch-all");
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var port = new Uri(address).Port;
            routed.BaseAddress = new Uri(mode == MeshSecurityMode.Strict ? $"https://127.0.0.1:{port}/" : $"http://127.0.0.1:{port}/");
            return routed;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
