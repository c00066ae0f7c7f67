using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Bookinfo;

/// <summary>
/// The scripted tour: each step changes policy through the registry's API (as an operator would), waits until the
/// callers' meshes have it, sends traffic, prints what users saw and what the registry's graph shows, and checks the
/// numbers. Any failed check makes the tour exit non-zero.
/// </summary>
internal sealed class Scenario(BookinfoMesh mesh, TrafficGenerator traffic, int requestsPerStep, TextWriter output)
{
    private const string Subsets = """ "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" }, "v3": { "version": "v3" }, "v4": { "version": "v4" } } """;
    private const string ReviewsCommon = $$"""
        {{Subsets}}, "LoadBalancer": { "Policy": "RoundRobin" },
        "OutlierDetection": { "Consecutive5xxErrors": 2, "Interval": "00:00:01", "BaseEjectionTime": "00:00:30", "MaxEjectionPercent": 50 }
        """;
    private const string ReviewsRetry = """ "Retry": { "Attempts": 2, "RetryOn": [ "connect-failure", "refused-stream", "reset", "5xx" ] } """;

    private static readonly string AllV1 = $$"""
        { {{ReviewsCommon}}, "Routes": [ { "Name": "all-v1", "Destinations": [ { "Subset": "v1", "Weight": 100 } ], {{ReviewsRetry}} } ] }
        """;
    private static readonly string Canary = $$"""
        { {{ReviewsCommon}}, "Routes": [
          { "Name": "canary-v3", "Destinations": [ { "Subset": "v1", "Weight": 90 }, { "Subset": "v3", "Weight": 10 } ], {{ReviewsRetry}} } ] }
        """;
    private static readonly string Jason = $$"""
        { {{ReviewsCommon}}, "Routes": [
          { "Name": "jason-v2", "Match": { "Headers": { "end-user": "jason" } }, "Destinations": [ { "Subset": "v2", "Weight": 100 } ], {{ReviewsRetry}} },
          { "Name": "canary", "Destinations": [ { "Subset": "v1", "Weight": 90 }, { "Subset": "v3", "Weight": 10 } ], {{ReviewsRetry}} } ] }
        """;
    private const string RatingsPlain = """{ "Routes": [ { "Name": "plain", "Retry": { "Attempts": 0 } } ] }""";
    // ratings speaks gRPC: an aborted call is answered HTTP 200 with grpc-status 14 (UNAVAILABLE), which the client
    // sees as an RpcException, and `unavailable` is the retry condition that meets it.
    private const string RatingsAbort = """
        { "Routes": [ { "Name": "abort-50", "Retry": { "Attempts": 0 }, "Fault": { "Abort": { "Percentage": 50, "GrpcStatus": 14 } } } ] }
        """;
    private const string RatingsAbortRetried = """
        { "Routes": [ { "Name": "abort-50-retried", "Retry": { "Attempts": 3, "RetryOn": [ "unavailable" ], "BaseDelay": "00:00:00.002", "MaxDelay": "00:00:00.010" },
            "Fault": { "Abort": { "Percentage": 50, "GrpcStatus": 14 }, "PerAttempt": true } } ],
          "RetryBudget": { "RetryRatio": 1, "MinRetriesPerSecond": 200 } }
        """;
    private const string RatingsFixed = """{ "Routes": [ { "Name": "fault-removed", "Retry": { "Attempts": 1, "RetryOn": [ "unavailable" ] } } ] }""";

    // The rollouts' starting point: one route, all to v1, one retry on a 5xx (a user meets a canary's error only when
    // both tries fail), and no outlier ejection, which would take a canary's only instance out of its own analysis.
    private static readonly string RolloutBase = $$"""
        { {{Subsets}}, "LoadBalancer": { "Policy": "RoundRobin" }, "OutlierDetection": { "Consecutive5xxErrors": 0 },
          "Routes": [ { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": 100 } ],
            "Retry": { "Attempts": 1, "RetryOn": [ "connect-failure", "refused-stream", "reset", "5xx" ] } } ] }
        """;

    // Short steps so the tour stays quick; MinRequests small enough for a 5% share of 100 requests/s to reach within
    // the three intervals a step may wait. v3 calls ratings and v1 does not, so no p99 ratio is asked of v3.
    private const string GoodRollout = """
        { "Route": "default", "Stable": "v1", "Canary": "v3", "Steps": [ 5, 25, 50, 100 ], "StepInterval": "00:00:03",
          "Analysis": { "MinSuccessRate": 99.0, "MaxP99Ms": 1000, "MinRequests": 10 } }
        """;

    // v4 fails 20% of its answers; after the retry 4% of its calls fail, which is what its callers report. Any failure
    // among fewer than 100 canary calls breaks the 99% bound. A window of 25 to 50 calls sees none about one time
    // in four, so a 10% step follows the first: users stay far under 1% failed whichever early step rolls it back.
    // MinRequests stays low enough for a loaded machine's slower traffic to reach it within a step's three intervals,
    // and no p99 ratio is asked: v4 skips the ratings call v3 makes, and tiny p99s on a busy machine make ratios noisy.
    private const string BadRollout = """
        { "Route": "default", "Stable": "v3", "Canary": "v4", "Steps": [ 5, 10, 25, 50, 100 ], "StepInterval": "00:00:05",
          "Analysis": { "MinSuccessRate": 99.0, "MaxP99Ms": 1000, "MinRequests": 25 } }
        """;

    // The instances that call each service: they must have a policy before the step's traffic starts.
    private static readonly string[] ProductPage = ["productpage-1"];
    private static readonly string[] StarCallers = ["reviews-v2-a", "reviews-v3-a"];

    private readonly List<(string Step, Tally Tally, bool Passed)> _summary = [];
    private HttpClient _registry = null!;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var registry = mesh.CreateAdminClient();
        _registry = registry;

        output.WriteLine("MeshLib Bookinfo tour: users -> productpage -> details, reviews (v1 x2, v2, v3, v4) -> ratings, all on 127.0.0.1");
        output.WriteLine($"registry: {mesh.RegistryAddress} (HTTPS, CA {mesh.RegistryCaFingerprint}); dashboard: {mesh.DashboardUrl}");
        output.WriteLine($"{requestsPerStep} requests per step; every 4th user is jason");
        output.WriteLine();

        // Strict mTLS is each service's own setting (services/<name>/appsettings.json); the tour shows what it means.
        var strict = string.Equals(mesh.Services.First(s => s.Name == "ratings").App.Configuration["Mesh:Security:Mode"], "Strict",
            StringComparison.OrdinalIgnoreCase);
        var plaintextRefused = await PlaintextRefusedAsync(cancellationToken);
        output.WriteLine(strict
            ? $"mTLS: Strict on every service; a plaintext request to ratings {(plaintextRefused ? "is refused" : "was ANSWERED")}"
            : "mTLS: Permissive (plaintext accepted beside mTLS)");
        output.WriteLine();

        await StepAsync("1. All traffic to reviews v1", async ct =>
        {
            await PutPolicyAsync("ratings", RatingsPlain, StarCallers, "plain", ct);
            await PutPolicyAsync("reviews", AllV1, ProductPage, "all-v1", ct);
        }, (t, graph) =>
            Check("everyone on v1", t.VersionPercent("v1"), 100, 100) &
            Check("jason on v1 too", t.VersionPercent("v1", jason: true), 100, 100) &
            Check("success", t.SuccessPercent, 98, 100) &
            Check("users -> productpage req/s in the registry's graph", Rate(graph, "users", "productpage"), 0.1, double.MaxValue) &
            (!strict || (Check("plaintext request to a Strict service refused", plaintextRefused ? 1 : 0, 1, 1) &
                Check("% of instances registered for mTLS (https)", HttpsPercent(graph), 100, 100) &
                Check("instances reporting their certificate's expiry", CertificateExpiries(graph), 1, double.MaxValue))),
            cancellationToken);

        await StepAsync("2. Canary: 90% v1, 10% v3",
            ct => PutPolicyAsync("reviews", Canary, ProductPage, "canary-v3", ct),
            (t, _) =>
                Check("v3 share (10% wanted)", t.VersionPercent("v3"), 4, 18) &
                Check("nobody on v2", t.VersionPercent("v2"), 0, 0) &
                Check("success", t.SuccessPercent, 98, 100), cancellationToken);

        await StepAsync("3. end-user: jason to v2; everyone else stays on the canary",
            ct => PutPolicyAsync("reviews", Jason, ProductPage, "jason-v2", ct),
            (t, _) =>
                Check("jason on v2", t.VersionPercent("v2", jason: true), 100, 100) &
                Check("everyone else: v3 share", t.VersionPercent("v3"), 4, 18) &
                Check("success", t.SuccessPercent, 98, 100), cancellationToken);

        await StepAsync("4. A 50% abort fault on ratings (gRPC status 14, UNAVAILABLE), no retries: pages lose their stars",
            ct => PutPolicyAsync("ratings", RatingsAbort, StarCallers, "abort-50", ct),
            (t, _) =>
                Check("stars shown on v2/v3 pages", t.StarsShownPercent, 25, 75) &
                Check("pages still served", t.SuccessPercent, 98, 100), cancellationToken);

        var withoutRetries = _summary[^1].Tally.StarsShownPercent;
        using var retries = new RetryCounter("ratings", "abort-50-retried");
        await StepAsync("5. Same fault per attempt, 3 retries on unavailable: each retry meets the fault again, and most calls still win",
            ct => PutPolicyAsync("ratings", RatingsAbortRetried, StarCallers, "abort-50-retried", ct),
            (t, _) => RetriesHelped(t, withoutRetries, retries.Count), cancellationToken);

        await StepAsync("6. Fault removed; one reviews v1 instance crashes: retries and ejection keep pages coming",
            async ct =>
            {
                await PutPolicyAsync("ratings", RatingsFixed, StarCallers, "fault-removed", ct);
                await mesh.KillAsync("reviews-v1-b");
                output.WriteLine("   killed reviews-v1-b: its port is closed, its lease runs out in 3 s");
            },
            (t, graph) =>
                Check("success", t.SuccessPercent, 95, 100) &
                Check("reviews instances the registry lists once the lease ran out", Instances(graph, "reviews"), 4, 4), cancellationToken);

        await StepAsync("7. Rollback of the reviews policy to version 1 (all to v1)",
            async ct =>
            {
                using var response = await _registry.PostAsync(new Uri("/v1/policies/reviews/rollback?version=1", UriKind.Relative), null, ct);
                await EnsureAsync(response, "rollback reviews to version 1", ct);
                await mesh.WaitForRouteAsync(ProductPage, "reviews", "all-v1", ct);
            },
            (t, _) =>
                Check("everyone on v1", t.VersionPercent("v1"), 100, 100) &
                Check("jason on v1", t.VersionPercent("v1", jason: true), 100, 100) &
                Check("success", t.SuccessPercent, 98, 100), cancellationToken);

        var good = new RolloutRun(_registry, output);
        Tally? duringGood = null;
        await StepAsync("8. Rollout of reviews v3 by the registry: 5% -> 25% -> 50% -> 100%, each step judged on the traffic callers report",
            async ct =>
            {
                await PutPolicyAsync("reviews", RolloutBase, ProductPage, "default", ct);
                duringGood = await WithTrafficAsync(() => good.RunAsync("reviews", GoodRollout, ct), ct);
                output.WriteLine($"   {good.State}; during the rollout {duringGood.Requests} requests, success {P(duringGood.SuccessPercent)}, " +
                                 $"v3 share {P(duringGood.VersionPercent("v3"))}");
                await traffic.WaitForVersionAsync("v3", 50, ct);
            },
            (t, _) =>
                Check("rollout succeeded (1 = yes)", good.State == "Succeeded" ? 1 : 0, 1, 1) &
                Check("steps passed", good.Count("Passed"), 4, 4) &
                Check("steps failed", good.Count("Failed"), 0, 0) &
                Check("success during the rollout", duringGood!.SuccessPercent, 98, 100) &
                Check("everyone on v3 once promoted", t.VersionPercent("v3"), 100, 100) &
                Check("success", t.SuccessPercent, 98, 100), cancellationToken);

        var bad = new RolloutRun(_registry, output);
        Tally? duringBad = null;
        await StepAsync($"9. Rollout of reviews v4, a bad build ({BookinfoMesh.BrokenErrorPercent:0}% of its answers are 500s): the registry rolls it back",
            async ct =>
            {
                duringBad = await WithTrafficAsync(() => bad.RunAsync("reviews", BadRollout, ct), ct);
                output.WriteLine($"   {bad.State}; during the rollout {duringBad.Requests} requests, {duringBad.Requests - duringBad.Succeeded} failed " +
                                 $"({(100 - duringBad.SuccessPercent).ToString("0.00", CultureInfo.InvariantCulture)}% of user requests), " +
                                 $"v4 share {P(duringBad.VersionPercent("v4"))}");
                await traffic.WaitForVersionAsync("v3", 50, ct);
            },
            (t, _) =>
                Check("rolled back by the analysis (1 = yes)", bad.State == "RolledBack" ? 1 : 0, 1, 1) &
                Check("failed steps giving the success rate as the reason",
                    bad.Decisions.Count(d => RolloutRun.Text(d, "Verdict") == "Failed" &&
                                             RolloutRun.Text(d, "Reason").Contains("success rate", StringComparison.Ordinal)), 1, 1) &
                Check("% of user requests failed during the bad rollout (under 1)", 100 - duringBad!.SuccessPercent, 0, 0.99) &
                Check("everyone back on v3", t.VersionPercent("v3"), 100, 100) &
                Check("success", t.SuccessPercent, 98, 100), cancellationToken);

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        output.WriteLine("Summary");
        output.WriteLine($"   {"step",-6} {"requests",8} {"success",8} {"v1",7} {"v2",7} {"v3",7} {"jason v2",9} {"stars",7} {"p99 ms",8}  checks");
        foreach (var (step, t, passed) in _summary)
        {
            output.WriteLine($"   {step,-6} {t.Requests,8} {P(t.SuccessPercent),8} {P(t.VersionPercent("v1")),7} {P(t.VersionPercent("v2")),7} " +
                             $"{P(t.VersionPercent("v3")),7} {P(t.VersionPercent("v2", jason: true)),9} {P(t.StarsShownPercent),7} " +
                             $"{t.PercentileMs(0.99),8:F1}  {(passed ? "passed" : "FAILED")}");
        }

        var failed = _summary.Count(s => !s.Passed);
        output.WriteLine($"Tour {(failed == 0 ? "passed" : $"FAILED ({failed} step(s))")} in {seconds:F1} s.");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>The live mode's starting point: a 90/10 canary of reviews v3, for the dashboard to show and edit.</summary>
    public static async Task StartCanaryAsync(BookinfoMesh mesh, CancellationToken cancellationToken)
    {
        using var registry = mesh.CreateAdminClient();
        using var response = await registry.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Json(Canary), cancellationToken);
        await EnsureAsync(response, "put the reviews policy", cancellationToken);
        await mesh.WaitForRouteAsync(ProductPage, "reviews", "canary-v3", cancellationToken);
    }

    private async Task StepAsync(string title, Func<CancellationToken, Task> change, Func<Tally, JsonElement, bool> check,
        CancellationToken cancellationToken)
    {
        output.WriteLine(title);
        var changing = Stopwatch.GetTimestamp();
        await change(cancellationToken);
        output.WriteLine($"   policy in force everywhere after {Stopwatch.GetElapsedTime(changing).TotalSeconds:F2} s");

        var tally = await traffic.RunAsync(requestsPerStep, cancellationToken);
        var graph = await DashboardAsync(cancellationToken);
        output.WriteLine($"   {tally.Requests} requests: success {P(tally.SuccessPercent)}, p50 {tally.PercentileMs(0.5):F1} ms, p99 {tally.PercentileMs(0.99):F1} ms");
        output.WriteLine($"   reviews seen by everyone else: v1 {P(tally.VersionPercent("v1"))}, v2 {P(tally.VersionPercent("v2"))}, v3 {P(tally.VersionPercent("v3"))}");
        output.WriteLine($"   reviews seen by jason:         v1 {P(tally.VersionPercent("v1", true))}, v2 {P(tally.VersionPercent("v2", true))}, v3 {P(tally.VersionPercent("v3", true))}");
        output.WriteLine($"   stars shown on {P(tally.StarsShownPercent)} of the {tally.StarPages} pages from v2/v3");
        output.WriteLine("   the registry's graph (last renewal window):");
        foreach (var edge in graph.GetProperty("edges").EnumerateArray())
        {
            output.WriteLine("      " + Edge(edge));
        }

        var passed = check(tally, graph);
        _summary.Add((title[..title.IndexOf('.', StringComparison.Ordinal)], tally, passed));
        output.WriteLine();
    }

    /// <summary>Runs <paramref name="work"/> while users send traffic, and returns what they saw meanwhile.</summary>
    private async Task<Tally> WithTrafficAsync(Func<Task> work, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        traffic.Swap();
        var sending = traffic.RunAsync(null, stop.Token);
        try
        {
            await work();
        }
        finally
        {
            await stop.CancelAsync();
            await sending;
        }

        return traffic.Swap();
    }

    private bool Check(string what, double value, double min, double max)
    {
        var ok = value >= min - 1e-9 && value <= max + 1e-9;
        var range = max == double.MaxValue ? $">= {min}" : min == max ? $"= {min}" : $"{min} to {max}";
        output.WriteLine($"   check {what}: {value.ToString("0.##", CultureInfo.InvariantCulture)} (wanted {range}) {(ok ? "ok" : "FAILED")}");
        return ok;
    }

    /// <summary>
    /// Step 5's checks: gRPC retry conditions retry a call whatever its method, so the retries must show in the
    /// callers' retry counter and in the stars (each attempt meets the 50% fault again: 1 - 0.5^4 of calls win).
    /// </summary>
    private bool RetriesHelped(Tally t, double withoutRetries, long retries)
    {
        output.WriteLine($"   retries the callers' meshes made to ratings on this route: {retries}");
        return Check("retries made", retries, 1, double.MaxValue) &
               Check("stars shown (1 - 0.5^4 = 93.75% expected)", t.StarsShownPercent, 85, 100) &
               Check("better than without retries", t.StarsShownPercent - withoutRetries, 0.001, 100);
    }

    private async Task PutPolicyAsync(string service, string document, string[] callers, string route, CancellationToken cancellationToken)
    {
        using var validate = await _registry.PostAsync(new Uri($"/v1/policies/{service}/validate", UriKind.Relative), Json(document), cancellationToken);
        await EnsureAsync(validate, $"validate the {service} policy", cancellationToken);
        using var put = await _registry.PutAsync(new Uri($"/v1/policies/{service}", UriKind.Relative), Json(document), cancellationToken);
        await EnsureAsync(put, $"put the {service} policy", cancellationToken);
        using var body = JsonDocument.Parse(await put.Content.ReadAsStringAsync(cancellationToken));
        output.WriteLine($"   PUT /v1/policies/{service} -> version {body.RootElement.GetProperty("version").GetInt64()}, route '{route}'");
        await mesh.WaitForRouteAsync(callers, service, route, cancellationToken);
    }

    private async Task<JsonElement> DashboardAsync(CancellationToken cancellationToken)
    {
        using var response = await _registry.GetAsync(new Uri("/v1/dashboard", UriKind.Relative), cancellationToken);
        await EnsureAsync(response, "read the dashboard", cancellationToken);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return doc.RootElement.Clone();
    }

    private static double Rate(JsonElement graph, string source, string destination) =>
        graph.GetProperty("edges").EnumerateArray()
            .Where(e => e.GetProperty("source").GetString() == source && e.GetProperty("destination").GetString() == destination)
            .Sum(e => e.GetProperty("requestsPerSecond").GetDouble());

    private async Task<bool> PlaintextRefusedAsync(CancellationToken cancellationToken)
    {
        // Plain HTTP/1.1, not a gRPC call: plaintext HTTP/2 (h2c) is refused by an endpoint that serves HTTP/1.1 too,
        // whatever the mesh's mode, so only an HTTP/1.1 request shows what Strict refuses. Any answer, a 404 included,
        // means the port served plaintext.
        var ratings = mesh.Services.First(s => s.Name == "ratings");
        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await plain.GetAsync(new Uri(ratings.Address, "/"), cancellationToken);
            return false;
        }
        catch (HttpRequestException)
        {
            return true;
        }
    }

    private static double HttpsPercent(JsonElement graph)
    {
        var instances = graph.GetProperty("services").EnumerateArray().SelectMany(s => s.GetProperty("instances").EnumerateArray()).ToList();
        return instances.Count == 0 ? 0 :
            100.0 * instances.Count(i => i.GetProperty("address").GetString()!.StartsWith("https://", StringComparison.Ordinal)) / instances.Count;
    }

    private static double CertificateExpiries(JsonElement graph) =>
        graph.GetProperty("services").EnumerateArray().SelectMany(s => s.GetProperty("instances").EnumerateArray())
            .Count(i => i.TryGetProperty("certificateExpiresAt", out var e) && e.ValueKind == JsonValueKind.String);

    private static double Instances(JsonElement graph, string service) =>
        graph.GetProperty("services").EnumerateArray().Where(s => s.GetProperty("name").GetString() == service)
            .Sum(s => s.GetProperty("instances").GetArrayLength());

    internal static string Edge(JsonElement edge)
    {
        var version = edge.TryGetProperty("destinationVersion", out var v) ? " " + v.GetString() : string.Empty;
        var success = edge.TryGetProperty("successPercent", out var s) ? P(s.GetDouble()) : "-";
        var p99 = edge.TryGetProperty("p99Ms", out var p) ? $"{p.GetDouble():F1} ms" : "-";
        return $"{edge.GetProperty("source").GetString() + " -> " + edge.GetProperty("destination").GetString() + version,-28} " +
               $"{edge.GetProperty("requestsPerSecond").GetDouble(),7:F1} req/s  success {success,6}  p99 {p99}";
    }

    private static async Task EnsureAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Could not {what}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static string P(double percent) => percent.ToString("0.0", CultureInfo.InvariantCulture) + "%";
}
