using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Mesh.Registry.Policies;
using Mesh.Registry.Store;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// Rollouts against a real registry on a fake clock: every state change and verdict from seeded traffic numbers (sent
/// as the callers' renewals), every validation error with its path, the operator's commands, a policy write to the
/// route, and a restart in the middle. Ticks are driven by the test; the registry's own driver ticks on the same fake
/// clock and is serialized with them, so the outcome does not depend on which runs first.
/// </summary>
public sealed class RolloutTests : IAsyncLifetime
{
    private const string Policy = """
        { "Subsets": { "v1": { "version": "v1" }, "v3": { "version": "v3" }, "bare": { "zone": "a" } },
          "Routes": [
            { "Name": "testers", "Match": { "Headers": { "end-user": "jason" } }, "Destinations": [ { "Subset": "v3", "Weight": 100 } ] },
            { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": 100 } ] } ] }
        """;

    private const string Spec = """
        { "Route": "default", "Stable": "v1", "Canary": "v3", "Steps": [5, 50, 100], "StepInterval": "00:00:30",
          "Analysis": { "MinSuccessRate": 99.0, "MaxP99Ms": 500, "MaxP99Ratio": 1.5, "MinRequests": 100 } }
        """;

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private RegistryHost _host = null!;
    private PolicyWriteRacingStore _racing = null!;
    private int _reports;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync(_time, services: ["reviews", "productpage"],
            configureServices: s => s.AddSingleton<IRegistryStore>(sp => _racing = new PolicyWriteRacingStore(RegistryStoreFactory.Create(sp))));
        await WaitToDriveAsync();
        (await _host.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json(Policy))).EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_healthy_canary_passes_every_step_and_is_promoted()
    {
        var started = await StartAsync(Spec);
        started.GetProperty("state").GetString().ShouldBe("Progressing");
        started.GetProperty("step").GetInt32().ShouldBe(1);
        started.GetProperty("weight").GetInt32().ShouldBe(5);
        (await RouteAsync()).ShouldBe("v1:95,v3:5");

        // Step 1: 5% canary, healthy; not judged before the interval has passed. The window so far is in the answer.
        await ReportAsync(("v1", 1900, 2, 100), ("v3", 100, 0, 110));
        var window = (await GetAsync()).GetProperty("window");
        window.GetProperty("since").GetDateTimeOffset().ShouldBe(_time.GetUtcNow());
        window.GetProperty("canary").GetProperty("requests").GetInt64().ShouldBe(100);
        window.GetProperty("stable").GetProperty("errors").GetInt64().ShouldBe(2);
        _time.Advance(Interval - TimeSpan.FromSeconds(1));
        await _host.Rollouts.TickAsync();
        (await GetAsync()).GetProperty("step").GetInt32().ShouldBe(1);
        _time.Advance(TimeSpan.FromSeconds(1));
        await _host.Rollouts.TickAsync();
        var rollout = await GetAsync();
        rollout.GetProperty("step").GetInt32().ShouldBe(2);
        rollout.GetProperty("weight").GetInt32().ShouldBe(50);
        (await RouteAsync()).ShouldBe("v1:50,v3:50");
        var passed = rollout.GetProperty("decisions")[1];
        passed.GetProperty("verdict").GetString().ShouldBe("Passed");
        passed.GetProperty("step").GetInt32().ShouldBe(1);
        passed.GetProperty("weight").GetInt32().ShouldBe(5);
        passed.GetProperty("canary").GetProperty("requests").GetInt64().ShouldBe(100);
        passed.GetProperty("canary").GetProperty("successRate").GetDouble().ShouldBe(100);
        passed.GetProperty("stable").GetProperty("successRate").GetDouble().ShouldBe(99.895);
        passed.GetProperty("reason").GetString().ShouldBe("success rate 100% (bound 99%); p99 110 ms (bound 500 ms); p99 1.1x the stable's 100 ms (bound 1.5x)");

        // Step 2 and the last step (100% canary: the ratio is judged against the stable p99 of the step before).
        await ReportAsync(("v1", 1000, 0, 100), ("v3", 1000, 1, 120));
        await AdvanceAndTickAsync();
        (await RouteAsync()).ShouldBe("v1:0,v3:100");
        await ReportAsync(("v3", 2000, 2, 140));
        await AdvanceAndTickAsync();

        rollout = await GetAsync();
        rollout.TryGetProperty("window", out _).ShouldBeFalse();
        rollout.GetProperty("state").GetString().ShouldBe("Succeeded");
        rollout.GetProperty("weight").GetInt32().ShouldBe(100);
        Verdicts(rollout).ShouldBe(["Started", "Passed", "Passed", "Passed"]);
        rollout.GetProperty("decisions")[3].GetProperty("reason").GetString()!.ShouldEndWith("p99 1.4x the stable's 100 ms (bound 1.5x); last step: promoted");
        (await RouteAsync()).ShouldBe("v3:100");

        // Every weight change is a policy version in the history, the other route untouched.
        var history = await _host.Admin.GetJsonAsync("/v1/policies/reviews/history");
        history.GetProperty("versions").GetArrayLength().ShouldBe(5);
        var current = await _host.Admin.GetJsonAsync("/v1/policies/reviews");
        current.GetProperty("document").GetProperty("Routes")[0].GetProperty("Destinations")[0].GetProperty("Subset").GetString().ShouldBe("v3");
    }

    [Fact]
    public async Task A_failing_canary_is_rolled_back_at_once_with_the_reason()
    {
        await StartAsync(Spec);
        await ReportAsync(("v1", 1900, 0, 100), ("v3", 100, 20, 90));
        await AdvanceAndTickAsync();

        var rollout = await GetAsync();
        rollout.GetProperty("state").GetString().ShouldBe("RolledBack");
        rollout.GetProperty("weight").GetInt32().ShouldBe(0);
        Verdicts(rollout).ShouldBe(["Started", "Failed"]);
        var failed = rollout.GetProperty("decisions")[1];
        failed.GetProperty("reason").GetString().ShouldBe("success rate 80% (bound 99%)");
        failed.GetProperty("canary").GetProperty("errors").GetInt64().ShouldBe(20);
        (await RouteAsync()).ShouldBe("v1:100");

        // Final: later ticks change nothing, and a new rollout may start.
        await AdvanceAndTickAsync();
        (await GetAsync()).GetProperty("decisions").GetArrayLength().ShouldBe(2);
        (await StartAsync(Spec)).GetProperty("state").GetString().ShouldBe("Progressing");
    }

    public static TheoryData<string, string> FailingWindows() => new()
    {
        { "v1:1000:0:100 v3:100:0:620", "p99 620 ms (bound 500 ms); p99 6.2x the stable's 100 ms (bound 1.5x)" },
        { "v1:1000:0:200 v3:100:0:320", "p99 1.6x the stable's 200 ms (bound 1.5x)" },
        { "v1:1000:0:100 v3:200:4:100 v3:200:4:100", "success rate 98% (bound 99%)" },
        { "v1:1000:0:100 v3:200:0:100 v3:200:0:700", "p99 4x the stable's 100 ms (bound 1.5x)" },
        { "v1:1000:0:100 v3:200:0:-", "p99 not reported by the canary's callers (bound 500 ms); p99 ratio not judged: the canary's callers reported no p99 (bound 1.5x)" },
    };

    [Theory]
    [MemberData(nameof(FailingWindows))]
    public async Task Each_bound_fails_a_step(string traffic, string reason)
    {
        await StartAsync(Spec);
        await ReportAsync([.. traffic.Split(' ').Select(t => t.Split(':')).Select(p => (p[0], long.Parse(p[1], CultureInfo.InvariantCulture),
            long.Parse(p[2], CultureInfo.InvariantCulture), p[3] == "-" ? (double?)null : double.Parse(p[3], CultureInfo.InvariantCulture)))]);
        await AdvanceAndTickAsync();
        var rollout = await GetAsync();
        rollout.GetProperty("state").GetString().ShouldBe("RolledBack");
        rollout.GetProperty("decisions")[1].GetProperty("reason").GetString().ShouldBe(reason);
        (await RouteAsync()).ShouldBe("v1:100");
    }

    [Fact]
    public async Task Too_few_requests_wait_up_to_three_intervals_then_fail()
    {
        await StartAsync(Spec);
        await ReportAsync(("v1", 1000, 0, 100), ("v3", 40, 0, 100));
        await AdvanceAndTickAsync();
        var rollout = await GetAsync();
        rollout.GetProperty("state").GetString().ShouldBe("Progressing");
        rollout.GetProperty("decisions")[1].GetProperty("reason").GetString().ShouldBe("40 requests to the canary, 100 needed: the window goes on (1 of 3 intervals)");

        await ReportAsync(("v3", 40, 0, 100));
        await AdvanceAndTickAsync();
        await ReportAsync(("v3", 19, 0, 100));
        await AdvanceAndTickAsync();

        rollout = await GetAsync();
        Verdicts(rollout).ShouldBe(["Started", "Waiting", "Waiting", "Failed"]);
        rollout.GetProperty("decisions")[3].GetProperty("reason").GetString().ShouldBe("too few requests: 99 to the canary in 3 intervals, 100 needed");
        rollout.GetProperty("state").GetString().ShouldBe("RolledBack");
        (await RouteAsync()).ShouldBe("v1:100");
    }

    [Fact]
    public async Task Enough_requests_after_a_wait_pass_the_step_on_the_whole_window()
    {
        await StartAsync(Spec);
        await ReportAsync(("v3", 60, 0, 100));
        await AdvanceAndTickAsync();
        await ReportAsync(("v3", 60, 1, 100));
        await AdvanceAndTickAsync();
        var rollout = await GetAsync();
        Verdicts(rollout).ShouldBe(["Started", "Waiting", "Passed"]);
        rollout.GetProperty("decisions")[2].GetProperty("canary").GetProperty("requests").GetInt64().ShouldBe(120);
        rollout.GetProperty("step").GetInt32().ShouldBe(2);
    }

    [Fact]
    public async Task A_policy_write_to_the_route_pauses_the_rollout_and_resume_sets_the_weights_again()
    {
        await StartAsync(Spec);

        // A write to the other route leaves the rollout running.
        var other = Policy.Replace("""{ "Subset": "v3", "Weight": 100 } ] },""", """{ "Subset": "v1", "Weight": 100 } ] },""", StringComparison.Ordinal)
            .Replace("""{ "Subset": "v1", "Weight": 100 } ] } ] }""", """{ "Subset": "v1", "Weight": 95 }, { "Subset": "v3", "Weight": 5 } ] } ] }""", StringComparison.Ordinal);
        (await _host.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json(other))).EnsureSuccessStatusCode();
        await _host.Rollouts.TickAsync();
        (await GetAsync()).GetProperty("state").GetString().ShouldBe("Progressing");

        // A write to the rollout's route pauses it.
        (await _host.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json(Policy))).EnsureSuccessStatusCode();
        await _host.Rollouts.TickAsync();
        var rollout = await GetAsync();
        rollout.GetProperty("state").GetString().ShouldBe("Paused");
        rollout.GetProperty("decisions")[1].GetProperty("reason").GetString()!.ShouldStartWith("policy version 4 changed route 'default' outside the rollout");
        (await RouteAsync()).ShouldBe("v1:100");

        // Paused: time moves nothing, and no window is open to count traffic.
        await AdvanceAndTickAsync();
        _host.RolloutWindows.Find("reviews", (await GetAsync()).GetProperty("stepStartedAt").GetDateTimeOffset().UtcTicks).ShouldBeNull();
        (await GetAsync()).GetProperty("decisions").GetArrayLength().ShouldBe(2);

        rollout = await CommandAsync("resume");
        rollout.GetProperty("state").GetString().ShouldBe("Progressing");
        (await RouteAsync()).ShouldBe("v1:95,v3:5");
        await ReportAsync(("v1", 1000, 0, 100), ("v3", 100, 0, 100));
        await AdvanceAndTickAsync();
        Verdicts(await GetAsync()).ShouldBe(["Started", "Paused", "Resumed", "Passed"]);
    }

    [Theory]
    [InlineData("a retry on the route", "\"Name\": \"default\",", "\"Name\": \"default\", \"Retry\": { \"Attempts\": 2 },")]
    [InlineData("the canary subset's version label", "\"v3\": { \"version\": \"v3\" }", "\"v3\": { \"version\": \"v4\" }")]
    public async Task A_write_that_keeps_the_weights_but_changes_the_route_or_its_subsets_pauses_the_rollout(string what, string from, string to)
    {
        await StartAsync(Spec);

        // The rollout's own weights stay as it set them; something else about its route changes.
        var current = await _host.Admin.GetJsonAsync("/v1/policies/reviews");
        var document = current.GetProperty("document").GetRawText();
        document.ShouldContain(from.Replace(" ", string.Empty, StringComparison.Ordinal), Case.Sensitive, what);
        var edited = document.Replace(from.Replace(" ", string.Empty, StringComparison.Ordinal), to, StringComparison.Ordinal);
        (await _host.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json(edited))).EnsureSuccessStatusCode();
        await _host.Rollouts.TickAsync();

        var rollout = await GetAsync();
        rollout.GetProperty("state").GetString().ShouldBe("Paused", what);
        rollout.GetProperty("decisions")[1].GetProperty("reason").GetString()!.ShouldStartWith("policy version 3 changed route 'default' outside the rollout");
        (await RouteAsync()).ShouldBe("v1:95,v3:5");
    }

    [Fact]
    public async Task A_route_write_landing_while_a_step_moves_on_is_kept_and_pauses_the_rollout()
    {
        await StartAsync(Spec);
        await ReportAsync(("v1", 1000, 0, 100), ("v3", 100, 0, 100));

        // The step passes on the policy it read; another writer's change to the route lands before the next step's weights.
        var handWritten = Policy.Replace("""{ "Subset": "v1", "Weight": 100 } ] } ] }""",
            """{ "Subset": "v1", "Weight": 80 }, { "Subset": "v3", "Weight": 20 } ] } ] }""", StringComparison.Ordinal);
        _racing.BeforeNextPolicyWrite = store => store.WritePolicyAsync("reviews", new PolicyChange(PolicyDocument.Canonical(Encoding.UTF8.GetBytes(handWritten))));
        await AdvanceAndTickAsync();

        var rollout = await GetAsync();
        rollout.GetProperty("state").GetString().ShouldBe("Paused");
        Verdicts(rollout).ShouldBe(["Started", "Passed", "Paused"]);
        rollout.GetProperty("decisions")[2].GetProperty("reason").GetString()!
            .ShouldStartWith("policy version 3 changed route 'default' outside the rollout (which had set version 2)");
        (await RouteAsync()).ShouldBe("v1:80,v3:20");
    }

    [Fact]
    public async Task Operators_pause_resume_abort_and_promote()
    {
        (await RefusedAsync("pause", HttpStatusCode.NotFound)).ShouldContain("has no rollout");
        await StartAsync(Spec);
        using (var again = await _host.Admin.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), Api.Json(Spec)))
        {
            (await again.ProblemAsync(HttpStatusCode.Conflict)).ShouldContain("Progressing at step 1");
        }

        (await RefusedAsync("resume", HttpStatusCode.Conflict)).ShouldContain("only a paused rollout");

        (await CommandAsync("pause")).GetProperty("state").GetString().ShouldBe("Paused");
        (await CommandAsync("promote")).GetProperty("state").GetString().ShouldBe("Succeeded");
        (await RouteAsync()).ShouldBe("v3:100");
        (await RefusedAsync("abort", HttpStatusCode.Conflict)).ShouldContain("Succeeded already");

        await StartAsync(Spec.Replace("\"Canary\": \"v3\"", "\"Canary\": \"v1\"", StringComparison.Ordinal).Replace("\"Stable\": \"v1\"", "\"Stable\": \"v3\"", StringComparison.Ordinal));
        (await RouteAsync()).ShouldBe("v3:95,v1:5");
        var aborted = await CommandAsync("abort");
        aborted.GetProperty("state").GetString().ShouldBe("Aborted");
        Verdicts(aborted).ShouldBe(["Started", "Aborted"]);
        (await RouteAsync()).ShouldBe("v3:100");
    }

    [Fact]
    public async Task Every_command_from_every_state_is_done_or_refused()
    {
        // Paused: a second pause is refused; abort sends the route back to stable.
        await StartAsync(Spec);
        await CommandAsync("pause");
        (await RefusedAsync("pause", HttpStatusCode.Conflict)).ShouldContain("only a progressing rollout can be paused");
        (await CommandAsync("abort")).GetProperty("state").GetString().ShouldBe("Aborted");
        (await RouteAsync()).ShouldBe("v1:100");

        // Progressing: promote sends the route to the canary at once.
        await StartAsync(Spec);
        var promoted = await CommandAsync("promote");
        promoted.GetProperty("state").GetString().ShouldBe("Succeeded");
        promoted.GetProperty("weight").GetInt32().ShouldBe(100);
        (await RouteAsync()).ShouldBe("v3:100");

        // Rolled back by its analysis: every command is refused, and the route stays on stable.
        await StartAsync(Spec.Replace("\"Stable\": \"v1\", \"Canary\": \"v3\"", "\"Stable\": \"v3\", \"Canary\": \"v1\"", StringComparison.Ordinal));
        await ReportAsync(("v3", 1000, 0, 100), ("v1", 100, 50, 100));
        await AdvanceAndTickAsync();
        (await GetAsync()).GetProperty("state").GetString().ShouldBe("RolledBack");
        (await RefusedAsync("pause", HttpStatusCode.Conflict)).ShouldContain("The rollout is RolledBack");
        (await RefusedAsync("resume", HttpStatusCode.Conflict)).ShouldContain("only a paused rollout can be resumed");
        (await RefusedAsync("abort", HttpStatusCode.Conflict)).ShouldContain("RolledBack already");
        (await RefusedAsync("promote", HttpStatusCode.Conflict)).ShouldContain("RolledBack already");
        (await RouteAsync()).ShouldBe("v3:100");
        Verdicts(await GetAsync()).ShouldBe(["Started", "Failed"]);
    }

    [Fact]
    public async Task Rollout_writes_need_the_admin_token_and_reads_a_token()
    {
        using var anonymous = new HttpClient { BaseAddress = _host.Address };
        await (await anonymous.GetAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative))).ProblemAsync(HttpStatusCode.Unauthorized);
        var join = _host.Client(RegistryHost.JoinToken("reviews"));
        await (await join.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), Api.Json(Spec))).ProblemAsync(HttpStatusCode.Forbidden);
        await (await join.PostAsync(new Uri("/v1/rollouts/reviews/abort", UriKind.Relative), null)).ProblemAsync(HttpStatusCode.Forbidden);
        await (await _host.Admin.GetAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative))).ProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task No_spelling_of_a_rollout_write_lets_a_join_token_steer_it()
    {
        await StartAsync(Spec);
        var join = _host.Client(RegistryHost.JoinToken("reviews"));
        string[] paths =
        [
            "/v1/rollouts/reviews", "/V1/ROLLOUTS/Reviews", "/v1/rollouts/reviews/", "/v1//rollouts/reviews", "/v1/rollouts/./reviews",
            "/v1/rollouts/x/../reviews", "/v1/rollouts/reviews%2Fabort", "/v1/rollouts/reviews?x=1",
        ];
        string[] commands = ["pause", "PAUSE", "abort", "Abort/", "promote", "resume", "%70romote", "./abort"];
        var tried = 0;
        foreach (var path in paths)
        {
            foreach (var method in new[] { HttpMethod.Put, HttpMethod.Post, HttpMethod.Delete, HttpMethod.Patch })
            {
                using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative)) { Content = Api.Json(Spec) };
                using var response = await join.SendAsync(request);
                ((int)response.StatusCode).ShouldBeOneOf([403, 404, 405], $"{method} {path}");
                tried++;
            }

            foreach (var command in commands)
            {
                using var response = await join.PostAsync(new Uri(path.Split('?')[0].TrimEnd('/') + "/" + command, UriKind.Relative), null);
                ((int)response.StatusCode).ShouldBeOneOf([400, 403, 404, 405], $"POST {path}/{command}");
                tried++;
            }
        }

        tried.ShouldBe(paths.Length * (4 + commands.Length));
        var rollout = await GetAsync();
        rollout.GetProperty("state").GetString().ShouldBe("Progressing");
        Verdicts(rollout).ShouldBe(["Started"]);
    }

    public static TheoryData<string, string, string> InvalidSpecs() => new()
    {
        { """{ "Route": "default", "Stable": "v1", "Canary": "v3", "Steps": [5, 100] }""", "StepInterval", "required" },
        { Spec.Replace("[5, 50, 100]", "[50, 5, 100]", StringComparison.Ordinal), "Steps[1]", "5 does not come after 50: steps must ascend" },
        { Spec.Replace("[5, 50, 100]", "[5, 50]", StringComparison.Ordinal), "Steps[1]", "the last step is 50; it must be 100" },
        { Spec.Replace("[5, 50, 100]", "[0, 50, 100]", StringComparison.Ordinal), "Steps[0]", "0 is not from 1 to 100" },
        { Spec.Replace("[5, 50, 100]", "[5, 50, 101]", StringComparison.Ordinal), "Steps[2]", "101 is not from 1 to 100" },
        { Spec.Replace("[5, 50, 100]", "[]", StringComparison.Ordinal), "Steps", "must have from 1 to 20 steps, has 0" },
        { Spec.Replace("[5, 50, 100]", "[5, \"x\", 100]", StringComparison.Ordinal), "Steps[1]", "must be a whole number from 1 to 100" },
        { Spec.Replace("00:00:30", "00:00:00", StringComparison.Ordinal), "StepInterval", "must be from 00:00:01" },
        { Spec.Replace("00:00:30", "00:00:00.500", StringComparison.Ordinal), "StepInterval", "must be from 00:00:01 (rollouts are looked at once a second)" },
        { Spec.Replace("00:00:30", "soon", StringComparison.Ordinal), "StepInterval", "must be a duration" },
        { Spec.Replace("99.0", "101", StringComparison.Ordinal), "Analysis.MinSuccessRate", "must be a percentage from 0 to 100" },
        { Spec.Replace("\"MaxP99Ms\": 500", "\"MaxP99Ms\": 0", StringComparison.Ordinal), "Analysis.MaxP99Ms", "must be milliseconds, more than 0" },
        { Spec.Replace("1.5", "0.5", StringComparison.Ordinal), "Analysis.MaxP99Ratio", "from 1 to 1000" },
        { Spec.Replace("\"MinRequests\": 100", "\"MinRequests\": 0", StringComparison.Ordinal), "Analysis.MinRequests", "from 1 to 1000000000" },
        { Spec.Replace("\"MinRequests\"", "\"MinRequest\"", StringComparison.Ordinal), "Analysis.MinRequest", "unknown field" },
        { Spec.Replace("\"Route\"", "\"Rout\"", StringComparison.Ordinal), "Rout", "unknown field" },
        { Spec.Replace("\"Canary\": \"v3\"", "\"Canary\": \"v1\"", StringComparison.Ordinal), "Canary", "is the stable subset 'v1'" },
        { Spec.Replace("\"default\"", "\"nightly\"", StringComparison.Ordinal), "Route", "no route named 'nightly' in the policy of 'reviews'" },
        { Spec.Replace("\"Stable\": \"v1\"", "\"Stable\": \"v9\"", StringComparison.Ordinal), "Stable", "no subset 'v9' in the policy of 'reviews'" },
        { Spec.Replace("\"Canary\": \"v3\"", "\"Canary\": \"bare\"", StringComparison.Ordinal), "Canary", "subset 'bare' selects no 'version' label" },
        { "[1]", "body", "must be a JSON object" },
    };

    [Theory]
    [MemberData(nameof(InvalidSpecs))]
    public async Task Each_invalid_spec_is_refused_with_its_path(string spec, string path, string message)
    {
        using var response = await _host.Admin.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), Api.Json(spec));
        var body = await response.ProblemAsync(HttpStatusCode.BadRequest);
        using var problem = JsonDocument.Parse(body);
        var errors = problem.RootElement.GetProperty("errors");
        errors.TryGetProperty(path, out var messages).ShouldBeTrue(body);
        messages.EnumerateArray().Any(m => m.GetString()!.Contains(message, StringComparison.Ordinal)).ShouldBeTrue(body);
        (await RouteAsync()).ShouldBe("v1:100");
    }

    [Fact]
    public async Task Every_error_is_reported_at_once()
    {
        using var response = await _host.Admin.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), Api.Json("""
            { "Route": "", "Stable": "v1", "Steps": [50, 40], "StepInterval": "-00:00:01", "Analysis": { "MinRequests": -1 } }
            """));
        using var problem = JsonDocument.Parse(await response.ProblemAsync(HttpStatusCode.BadRequest));
        problem.RootElement.GetProperty("errors").EnumerateObject().Select(e => e.Name).Order(StringComparer.Ordinal)
            .ShouldBe(["Analysis.MinRequests", "Canary", "Route", "StepInterval", "Steps[1]"]);
    }

    [Fact]
    public async Task Errors_of_shape_and_errors_against_the_policy_are_reported_together()
    {
        using var response = await _host.Admin.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), Api.Json("""
            { "Route": "nightly", "Stable": "v9", "Canary": "v3", "Steps": [5, 50], "StepInterval": "00:00:30" }
            """));
        var body = await response.ProblemAsync(HttpStatusCode.BadRequest);
        using var problem = JsonDocument.Parse(body);
        problem.RootElement.GetProperty("errors").EnumerateObject().Select(e => e.Name).Order(StringComparer.Ordinal)
            .ToList().ShouldBe(["Route", "Stable", "Steps[1]"], body);

        // The same subset as stable and canary is one error, not one per check.
        using var same = await _host.Admin.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative),
            Api.Json(Spec.Replace("\"Canary\": \"v3\"", "\"Canary\": \"v1\"", StringComparison.Ordinal)));
        using var sameProblem = JsonDocument.Parse(await same.ProblemAsync(HttpStatusCode.BadRequest));
        sameProblem.RootElement.GetProperty("errors").GetProperty("Canary").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task A_service_without_a_policy_cannot_start_one()
    {
        using var response = await _host.Admin.PutAsync(new Uri("/v1/rollouts/ratings", UriKind.Relative), Api.Json(Spec));
        (await response.ProblemAsync(HttpStatusCode.BadRequest)).ShouldContain("service 'ratings' has no policy");
    }

    [Fact]
    public async Task A_rollout_survives_a_restart_and_its_step_window_starts_over()
    {
        await StartAsync(Spec);
        await ReportAsync(("v1", 1000, 0, 100), ("v3", 100, 0, 100));
        await AdvanceAndTickAsync();
        (await GetAsync()).GetProperty("step").GetInt32().ShouldBe(2);
        await ReportAsync(("v3", 5000, 0, 100));

        await _host.RestartAsync();
        await WaitToDriveAsync();
        var rollout = await GetAsync();
        rollout.GetProperty("state").GetString().ShouldBe("Progressing");
        rollout.GetProperty("step").GetInt32().ShouldBe(2);
        Verdicts(rollout).ShouldBe(["Started", "Passed"]);

        // The first tick after the start opens the window anew: the traffic counted before the restart is not judged.
        await _host.Rollouts.TickAsync();
        (await GetAsync()).GetProperty("stepStartedAt").GetDateTimeOffset().ShouldBe(_time.GetUtcNow());
        await ReportAsync(("v1", 1000, 30, 100), ("v3", 1000, 30, 100));
        await AdvanceAndTickAsync();
        rollout = await GetAsync();
        rollout.GetProperty("state").GetString().ShouldBe("RolledBack");
        rollout.GetProperty("decisions")[2].GetProperty("canary").GetProperty("requests").GetInt64().ShouldBe(1000);
        (await RouteAsync()).ShouldBe("v1:100");
    }

    [Fact]
    public async Task A_rollout_stored_before_its_weights_were_written_writes_them_after_a_restart()
    {
        // The store fails between the rollout's record and its policy version (as a registry killed there would).
        _racing.BeforeNextPolicyWrite = _ => throw new RegistryStoreUnavailableException("the store went away");
        using (var response = await _host.Admin.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), Api.Json(Spec)))
        {
            await response.ProblemAsync(HttpStatusCode.ServiceUnavailable);
        }

        (await RouteAsync()).ShouldBe("v1:100");
        var pending = await GetAsync();
        pending.GetProperty("state").GetString().ShouldBe("Progressing");
        pending.TryGetProperty("policyVersion", out _).ShouldBeFalse();

        await _host.RestartAsync();
        await WaitToDriveAsync();
        await _host.Rollouts.TickAsync();
        (await RouteAsync()).ShouldBe("v1:95,v3:5");
        (await GetAsync()).GetProperty("policyVersion").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task Metrics_show_the_weight_the_state_and_the_decisions()
    {
        var meters = _host.App.Services.GetRequiredService<IMeterFactory>();
        using var weight = new MetricCollector<int>(meters, RegistryMeter.Name, "mesh.rollout.weight");
        using var state = new MetricCollector<int>(meters, RegistryMeter.Name, "mesh.rollout.state");
        using var decisions = new MetricCollector<long>(meters, RegistryMeter.Name, "mesh.rollout.decisions");

        await StartAsync(Spec);
        await ReportAsync(("v1", 1000, 0, 100), ("v3", 100, 0, 100));
        await AdvanceAndTickAsync();

        weight.RecordObservableInstruments();
        var w = weight.LastMeasurement!;
        w.Value.ShouldBe(50);
        w.Tags["service"].ShouldBe("reviews");
        w.Tags["canary"].ShouldBe("v3");
        state.RecordObservableInstruments();
        state.LastMeasurement!.Tags["state"].ShouldBe("Progressing");
        decisions.GetMeasurementSnapshot().Select(m => (string)m.Tags["verdict"]!).ShouldBe(["Started", "Passed"]);

        await CommandAsync("abort");
        weight.RecordObservableInstruments();
        weight.LastMeasurement!.Value.ShouldBe(0);
        state.RecordObservableInstruments();
        state.LastMeasurement!.Tags["state"].ShouldBe("Aborted");
        decisions.LastMeasurement!.Tags["verdict"].ShouldBe("Aborted");
    }

    /// <summary>On etcd a registry drives rollouts once it holds the decider key, a moment after its start.</summary>
    private async Task WaitToDriveAsync() =>
        await Poll.UntilAsync(() => _host.Store.DrivesRollouts, TimeSpan.FromSeconds(30), "the registry drives rollouts");

    private async Task<JsonElement> StartAsync(string spec)
    {
        using var response = await _host.Admin.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), Api.Json(spec));
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.Created, body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private async Task<JsonElement> CommandAsync(string command)
    {
        using var response = await _host.Admin.PostAsync(new Uri($"/v1/rollouts/reviews/{command}", UriKind.Relative), null);
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private async Task<string> RefusedAsync(string command, HttpStatusCode status)
    {
        using var response = await _host.Admin.PostAsync(new Uri($"/v1/rollouts/reviews/{command}", UriKind.Relative), null);
        return await response.ProblemAsync(status);
    }

    private Task<JsonElement> GetAsync() => _host.Admin.GetJsonAsync("/v1/rollouts/reviews");

    private async Task AdvanceAndTickAsync()
    {
        _time.Advance(Interval);
        await _host.Rollouts.TickAsync();
    }

    /// <summary>The route's destinations as "subset:weight" in order.</summary>
    private async Task<string> RouteAsync()
    {
        var policy = await _host.Admin.GetJsonAsync("/v1/policies/reviews");
        var route = policy.GetProperty("document").GetProperty("Routes")[1];
        return string.Join(',', route.GetProperty("Destinations").EnumerateArray()
            .Select(d => $"{d.GetProperty("Subset").GetString()}:{d.GetProperty("Weight").GetInt32()}"));
    }

    private static List<string> Verdicts(JsonElement rollout) =>
        [.. rollout.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("verdict").GetString()!)];

    /// <summary>
    /// Sends traffic numbers to reviews' versions as a productpage instance's renewal (one new instance per report, as
    /// many callers would), and waits until the open window has counted them (on etcd they arrive through the mirror).
    /// </summary>
    private async Task ReportAsync(params (string Version, long Requests, long Errors, double? P99)[] traffic)
    {
        var destinations = string.Join(',', traffic.Select(t =>
            $$"""{ "service": "reviews", "version": "{{t.Version}}", "requests": {{t.Requests}}, "errors": {{t.Errors}}, "p50Ms": 1, "p99Ms": {{(t.P99 is { } p99 ? p99.ToString(CultureInfo.InvariantCulture) : "null")}} }"""));
        var before = await CountedAsync();
        var id = $"pp-{++_reports}";
        var body = $$"""{ "address": "http://127.0.0.1:{{5000 + _reports}}", "version": "v1", "ttlSeconds": 3600, "stats": { "windowSeconds": 5, "destinations": [ {{destinations}} ] } }""";
        var productpage = _host.Client(RegistryHost.JoinToken("productpage"));
        (await productpage.PutAsync(new Uri($"/v1/services/productpage/instances/{id}", UriKind.Relative), Api.Json(body))).EnsureSuccessStatusCode();
        var expected = before + traffic.Where(t => t.Version is "v1" or "v3").Sum(t => t.Requests);
        await Poll.UntilAsync(async () => await CountedAsync() >= expected, because: "the window counts the report");
    }

    /// <summary>The requests the open window of reviews has counted (none without one).</summary>
    private async Task<long> CountedAsync()
    {
        var status = await _host.Rollouts.GetAsync("reviews");
        if (status is null || _host.RolloutWindows.Find("reviews", status.StepStartedAt.UtcTicks) is not { } window)
        {
            return 0;
        }

        var (stable, canary) = window.Read();
        return stable.Requests + canary.Requests;
    }
}
