using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Mesh.Client.Security;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary><c>POST /v1/join-tokens</c> and friends: tokens that expire, get a bounded number of certificates, and can name the version.</summary>
public sealed class JoinTokenTests
{
    private static readonly Uri Tokens = new("/v1/join-tokens", UriKind.Relative);

    [Fact]
    public async Task A_made_token_joins_its_service_at_its_version_for_its_uses_until_it_expires_and_configured_tokens_keep_working()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await RegistryHost.StartAsync(time);
        var made = await CreateAsync(host.Admin, """{ "service": "Reviews", "version": "v2", "ttl": "00:10:00", "uses": 2 }""");
        var token = made.GetProperty("token").GetString()!;
        token.ShouldStartWith("mesh-join-");
        made.GetProperty("service").GetString().ShouldBe("reviews");
        made.GetProperty("version").GetString().ShouldBe("v2");
        made.GetProperty("uses").GetInt32().ShouldBe(2);
        made.GetProperty("used").GetInt32().ShouldBe(0);
        made.GetProperty("state").GetString().ShouldBe("active");
        made.GetProperty("expiresAt").GetDateTimeOffset().ShouldBe(time.GetUtcNow() + TimeSpan.FromMinutes(10));
        var id = made.GetProperty("id").GetString()!;

        // Like a configured join token for reviews: registers reviews, reads, and nothing else.
        var client = host.Client(token);
        (await client.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", version: "v2")).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await (await client.RegisterAsync("reviews", "r9", "http://127.0.0.1:5009", version: "v1")).ProblemAsync(HttpStatusCode.Forbidden))
            .ShouldContain("'v2'");
        (await client.GetJsonAsync("/v1/services")).GetProperty("services").GetRawText().ShouldContain("reviews");
        await (await client.RegisterAsync("ratings", "x1", "http://127.0.0.1:6001")).ProblemAsync(HttpStatusCode.Forbidden);
        await (await client.PostAsync(Tokens, Api.Json("""{ "service": "reviews" }"""))).ProblemAsync(HttpStatusCode.Forbidden);

        // Certificates: only at its version (a CSR asking for another is refused and costs no use), and two of them.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var other = await CertificateAuthorityTests.SignAsync(client, CertificateVersionTests.Csr(key, "CN=reviews, OU=v3"));
        other.StatusCode.ShouldBe(HttpStatusCode.Forbidden, other.Body);
        other.Body.ShouldContain("'v2'");
        (await VersionOfNewCertificateAsync(client, key, "CN=reviews, OU=v2")).ShouldBe("v2");
        (await VersionOfNewCertificateAsync(client, key, "CN=reviews")).ShouldBe("v2");
        var spent = await CertificateAuthorityTests.SignAsync(client, CertificateVersionTests.Csr(key, "CN=reviews"));
        spent.StatusCode.ShouldBe(HttpStatusCode.Forbidden, spent.Body);
        spent.Body.ShouldContain("spent");

        // Spent, it still keeps its instances registered until it expires; the list shows it without the secret.
        (await client.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", version: "v2")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var listed = await host.Admin.GetJsonAsync("/v1/join-tokens");
        listed.GetRawText().ShouldNotContain(token);
        var entry = listed.GetProperty("tokens").EnumerateArray().Single();
        entry.GetProperty("id").GetString().ShouldBe(id);
        entry.GetProperty("used").GetInt32().ShouldBe(2);
        entry.GetProperty("state").GetString().ShouldBe("spent");
        entry.TryGetProperty("token", out _).ShouldBeFalse();

        // Expired: refused everywhere, while the configured token works as before.
        time.Advance(TimeSpan.FromMinutes(10));
        await (await client.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001")).ProblemAsync(HttpStatusCode.Unauthorized);
        await (await client.GetAsync(new Uri("/v1/services", UriKind.Relative))).ProblemAsync(HttpStatusCode.Unauthorized);
        (await host.Admin.GetJsonAsync("/v1/join-tokens")).GetProperty("tokens")[0].GetProperty("state").GetString().ShouldBe("expired");
        (await host.Client(RegistryHost.ReviewsToken).RegisterAsync("reviews", "r2", "http://127.0.0.1:5002")).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await VersionOfNewCertificateAsync(host.Client(RegistryHost.ReviewsToken), key, "CN=reviews, OU=v9")).ShouldBe("v9");

        // Nothing secret in the log.
        host.Logs.AllText().ShouldNotContain(token);
    }

    [Fact]
    public async Task A_token_without_a_version_gets_the_version_its_csr_names_and_ttl_may_be_seconds()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await RegistryHost.StartAsync(time);
        var made = await CreateAsync(host.Admin, """{ "service": "ratings", "ttl": 120 }""");
        made.TryGetProperty("version", out _).ShouldBeFalse();
        made.GetProperty("uses").GetInt32().ShouldBe(1);
        made.GetProperty("expiresAt").GetDateTimeOffset().ShouldBe(time.GetUtcNow() + TimeSpan.FromSeconds(120));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        (await VersionOfNewCertificateAsync(host.Client(made.GetProperty("token").GetString()!), key, "CN=ratings, OU=v5")).ShouldBe("v5");
    }

    [Fact]
    public async Task Revoked_tokens_authenticate_nothing_and_only_the_admin_manages_tokens()
    {
        await using var host = await RegistryHost.StartAsync();
        var made = await CreateAsync(host.Admin, """{ "service": "reviews", "uses": 3 }""");
        var client = host.Client(made.GetProperty("token").GetString()!);
        (await client.GetJsonAsync("/v1/services")).ValueKind.ShouldBe(JsonValueKind.Object);

        var reviews = host.Client(RegistryHost.ReviewsToken);
        await (await reviews.GetAsync(Tokens)).ProblemAsync(HttpStatusCode.Forbidden);
        await (await reviews.DeleteAsync(new Uri($"/v1/join-tokens/{made.GetProperty("id").GetString()}", UriKind.Relative))).ProblemAsync(HttpStatusCode.Forbidden);
        await (await host.Client(null).PostAsync(Tokens, Api.Json("""{ "service": "reviews" }"""))).ProblemAsync(HttpStatusCode.Unauthorized);

        using (var revoked = await host.Admin.DeleteAsync(new Uri($"/v1/join-tokens/{made.GetProperty("id").GetString()}", UriKind.Relative)))
        {
            revoked.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        }

        await (await client.GetAsync(new Uri("/v1/services", UriKind.Relative))).ProblemAsync(HttpStatusCode.Unauthorized);
        await (await host.Admin.DeleteAsync(new Uri("/v1/join-tokens/jt-nope", UriKind.Relative))).ProblemAsync(HttpStatusCode.NotFound);
        (await host.Admin.GetJsonAsync("/v1/join-tokens")).GetProperty("tokens").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task Invalid_requests_are_refused_with_every_error_by_its_field()
    {
        await using var host = await RegistryHost.StartAsync();
        var body = await (await host.Admin.PostAsync(Tokens, Api.Json("""{ "version": "bad version", "ttl": "forever", "uses": 0, "extra": 1 }""")))
            .ProblemAsync(HttpStatusCode.BadRequest);
        using var problem = JsonDocument.Parse(body);
        var errors = problem.RootElement.GetProperty("errors");
        errors.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ShouldBe(["extra", "service", "ttl", "uses", "version"]);

        foreach (var (json, field) in new[]
        {
            ("""{ "service": "reviews", "ttl": 10 }""", "ttl"),
            ("""{ "service": "reviews", "ttl": "31.00:00:00" }""", "ttl"),
            ("""{ "service": "reviews", "uses": 10001 }""", "uses"),
            ("""{ "service": "reviews", "uses": 1.5 }""", "uses"),
            ("""{ "service": "", "uses": 1 }""", "service"),
            ("""[ "reviews" ]""", "body"),
            ("""{ "service": """, "body"),
        })
        {
            var text = await (await host.Admin.PostAsync(Tokens, Api.Json(json))).ProblemAsync(HttpStatusCode.BadRequest);
            using var doc = JsonDocument.Parse(text);
            doc.RootElement.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(text);
        }

        (await host.Admin.GetJsonAsync("/v1/join-tokens")).GetProperty("tokens").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task Made_tokens_and_their_uses_survive_a_restart_of_the_registry_process()
    {
        var directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var environment = new Dictionary<string, string>
            {
                ["MeshRegistry__DataPath"] = Path.Combine(directory, "registry.db"),
                ["MeshRegistry__AdminToken"] = RegistryHost.AdminToken,
            };

            // The store the registry tests run on: the tokens' uses must survive the restart in every store.
            foreach (var (key, value) in await RegistryHost.StoreSettingsAsync(directory))
            {
                environment[key.Replace(":", "__", StringComparison.Ordinal)] = value!;
            }

            string token;
            await using (var registry = await RegistryProcess.StartAsync(environment))
            {
                using var admin = registry.Client(RegistryHost.AdminToken);
                token = (await CreateAsync(admin, """{ "service": "reviews", "version": "v1", "uses": 2, "ttl": "1.00:00:00" }""")).GetProperty("token").GetString()!;
                using var client = registry.Client(token);
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                (await VersionOfNewCertificateAsync(client, key, "CN=reviews")).ShouldBe("v1");
                registry.Kill();
                registry.Output.ShouldNotContain(token);
            }

            await using (var again = await RegistryProcess.StartAsync(environment))
            {
                using var client = again.Client(token);
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                (await VersionOfNewCertificateAsync(client, key, "CN=reviews")).ShouldBe("v1");
                var spent = await CertificateAuthorityTests.SignAsync(client, CertificateVersionTests.Csr(key, "CN=reviews"));
                spent.StatusCode.ShouldBe(HttpStatusCode.Forbidden, spent.Body);
                using var admin = again.Client(RegistryHost.AdminToken);
                (await admin.GetJsonAsync("/v1/join-tokens")).GetProperty("tokens")[0].GetProperty("used").GetInt32().ShouldBe(2);
                again.Output.ShouldNotContain(token);
            }
        }
        finally
        {
            RegistryHost.DeleteDirectory(directory);
        }
    }

    internal static async Task<JsonElement> CreateAsync(HttpClient admin, string json)
    {
        using var response = await admin.PostAsync(Tokens, Api.Json(json));
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.Created, body);
        response.Headers.CacheControl?.NoStore.ShouldBeTrue();
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    private static async Task<string?> VersionOfNewCertificateAsync(HttpClient client, ECDsa key, string subject)
    {
        var answer = await CertificateAuthorityTests.SignAsync(client, CertificateVersionTests.Csr(key, subject));
        answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
        using var certificate = X509Certificate2.CreateFromPem(answer.Json.GetProperty("certificate").GetString()!);
        return WorkloadVersion.Of(certificate);
    }
}
