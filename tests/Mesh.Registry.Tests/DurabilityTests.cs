using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// The registry as a separate process on the SQLite store (named, so it is that store whichever the other registry
/// tests run on), killed with SIGKILL and started again on the same file.
/// </summary>
public sealed partial class DurabilityTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));

    public DurabilityTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => RegistryHost.DeleteDirectory(_directory);

    private string DataPath => Path.Combine(_directory, "data", "registry.db");

    private Dictionary<string, string> Environment(bool withAdminToken = true)
    {
        var env = new Dictionary<string, string>
        {
            ["MeshRegistry__Store"] = "Sqlite",
            ["MeshRegistry__DataPath"] = DataPath,
            ["MeshRegistry__JoinTokens__reviews"] = RegistryHost.ReviewsToken,
        };
        if (withAdminToken)
        {
            env["MeshRegistry__AdminToken"] = RegistryHost.AdminToken;
        }

        return env;
    }

    [Fact]
    public async Task Everything_acknowledged_survives_kill_9_and_restart()
    {
        string before;
        await using (var registry = await RegistryProcess.StartAsync(Environment()))
        {
            using var admin = registry.Client(RegistryHost.AdminToken);
            using var reviews = registry.Client(RegistryHost.ReviewsToken);
            (await reviews.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", ttl: 3600)).EnsureSuccessStatusCode();
            (await reviews.RegisterAsync("reviews", "r2", "http://127.0.0.1:5002", ttl: 3600)).EnsureSuccessStatusCode();
            (await reviews.RegisterAsync("reviews", "gone", "http://127.0.0.1:5003", ttl: 3600)).EnsureSuccessStatusCode();
            (await reviews.DeleteAsync(new Uri("/v1/services/reviews/instances/gone", UriKind.Relative))).EnsureSuccessStatusCode();
            (await admin.RegisterAsync("ratings", "x1", "http://127.0.0.1:6001", ttl: 600)).EnsureSuccessStatusCode();

            (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json("""{ "LoadBalancer": { "Policy": "RoundRobin" } }""")))
                .EnsureSuccessStatusCode();
            (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json("""{ "LoadBalancer": { "Policy": "Random" } }""")))
                .EnsureSuccessStatusCode();
            (await admin.PutAsync(new Uri("/v1/policies/ratings", UriKind.Relative), Api.Json("""{ "RetryBudget": { "RetryRatio": 0.1 } }""")))
                .EnsureSuccessStatusCode();

            // Many registrations at once, then a renewal (a later lease deadline): kill right after the last answer.
            var burst = Enumerable.Range(0, 100).Select(async i =>
            {
                using var response = await reviews.RegisterAsync("reviews", $"burst-{i}", $"http://127.0.0.1:{7000 + i}", ttl: 3600);
                response.EnsureSuccessStatusCode();
            });
            await Task.WhenAll(burst);
            (await reviews.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", ttl: 3600)).EnsureSuccessStatusCode();

            before = await StateAsync(admin);
            registry.Kill();
        }

        await using (var again = await RegistryProcess.StartAsync(Environment()))
        {
            using var admin = again.Client(RegistryHost.AdminToken);
            var after = await StateAsync(admin);
            after.ShouldBe(before);

            var ids = await admin.InstanceIdsAsync("reviews");
            ids.Count.ShouldBe(102);
            ids.ShouldNotContain("gone");

            // The index carries on.
            using var next = await admin.RegisterAsync("reviews", "r4", "http://127.0.0.1:5004", ttl: 3600);
            var index = long.Parse(next.Headers.GetValues("X-Mesh-Index").Single(), System.Globalization.CultureInfo.InvariantCulture);
            var old = (await admin.GetJsonAsync("/v1/services")).GetProperty("index").GetInt64();
            index.ShouldBe(old);
            index.ShouldBeGreaterThan(100);
        }
    }

    [Fact]
    public async Task Renewals_committed_in_batches_are_answered_only_once_durable()
    {
        string before;
        int renewed;
        await using (var registry = await RegistryProcess.StartAsync(Environment()))
        {
            using var admin = registry.Client(RegistryHost.AdminToken);
            using var reviews = registry.Client(RegistryHost.ReviewsToken);
            for (var i = 0; i < 40; i++)
            {
                (await reviews.RegisterAsync("reviews", $"r{i}", $"http://127.0.0.1:{6000 + i}", ttl: 3600)).EnsureSuccessStatusCode();
            }

            // Ten renewals of every instance at once, so the lease writer commits them in batches, while five of the
            // instances are deregistered: a renewal that was queued must not bring a removed instance back.
            var renewals = Enumerable.Range(0, 400).Select(async n =>
            {
                using var response = await reviews.RegisterAsync("reviews", $"r{n % 40}", $"http://127.0.0.1:{6000 + (n % 40)}", ttl: 3600);
                response.EnsureSuccessStatusCode();
                return response.StatusCode == HttpStatusCode.OK ? 1 : 0;
            }).ToList();
            var removals = Enumerable.Range(35, 5).Select(async i =>
            {
                using var response = await reviews.DeleteAsync(new Uri($"/v1/services/reviews/instances/r{i}", UriKind.Relative));
                response.StatusCode.ShouldBeOneOf(HttpStatusCode.NoContent, HttpStatusCode.NotFound);
            }).ToList();
            renewed = (await Task.WhenAll(renewals)).Sum();
            await Task.WhenAll(removals);

            // Every answer is in: what the registry shows now is what it acknowledged, and must be what it restarts with.
            before = await StateAsync(admin);
            registry.Kill();
        }

        renewed.ShouldBeGreaterThan(300);
        await using var again = await RegistryProcess.StartAsync(Environment());
        using var check = again.Client(RegistryHost.AdminToken);
        (await StateAsync(check)).ShouldBe(before);
    }

    [Fact]
    public async Task Without_an_admin_token_the_first_start_generates_one_prints_it_once_and_stores_only_its_hash()
    {
        string token;
        await using (var first = await RegistryProcess.StartAsync(Environment(withAdminToken: false)))
        {
            await Mesh.Testing.Poll.UntilAsync(() => AdminTokenLine().IsMatch(first.Output), because: "the token is printed");
            var matches = AdminTokenLine().Matches(first.Output);
            matches.Count.ShouldBe(1);
            token = matches[0].Groups[1].Value;
            token.Length.ShouldBeGreaterThanOrEqualTo(32);

            using var admin = first.Client(token);
            (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json("""{ "LoadBalancer": { "Policy": "RoundRobin" } }""")))
                .StatusCode.ShouldBe(HttpStatusCode.OK);
            first.Kill();
        }

        // The database (with its write-ahead log) holds the hash, never the token.
        var files = Directory.GetFiles(Path.GetDirectoryName(DataPath)!);
        files.ShouldContain(DataPath);
        var bytes = files.SelectMany(File.ReadAllBytes).ToArray();
        var text = Encoding.Latin1.GetString(bytes);
        text.ShouldNotContain(token);
        text.ShouldContain(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token))));

        await using (var second = await RegistryProcess.StartAsync(Environment(withAdminToken: false)))
        {
            using var admin = second.Client(token);
            (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json("""{ "LoadBalancer": { "Policy": "Random" } }""")))
                .StatusCode.ShouldBe(HttpStatusCode.OK);
            using var wrong = second.Client(token + "x");
            (await wrong.GetAsync(new Uri("/v1/services", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
            second.Output.ShouldNotContain("admin token:");
            second.Output.ShouldNotContain(token);
        }
    }

    private static async Task<string> StateAsync(HttpClient admin)
    {
        var parts = new List<string> { (await admin.GetJsonAsync("/v1/services")).GetRawText() };
        foreach (var service in new[] { "reviews", "ratings" })
        {
            parts.Add((await admin.GetJsonAsync($"/v1/services/{service}/instances")).GetRawText());
            parts.Add((await admin.GetJsonAsync($"/v1/policies/{service}")).GetRawText());
            parts.Add((await admin.GetJsonAsync($"/v1/policies/{service}/history")).GetRawText());
        }

        return string.Join('\n', parts);
    }

    [GeneratedRegex("admin token: (\\S+)")]
    private static partial Regex AdminTokenLine();
}
