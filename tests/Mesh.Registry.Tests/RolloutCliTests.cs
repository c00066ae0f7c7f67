using Mesh.Registry.Cli;
using Mesh.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Registry.Tests;

/// <summary><c>policy rollout start|status|pause|resume|abort|promote</c> against a real registry: output, exit codes, errors with their paths.</summary>
public sealed class RolloutCliTests : IAsyncLifetime
{
    private const string Policy = """
        { "Subsets": { "v1": { "version": "v1" }, "v3": { "version": "v3" } },
          "Routes": [ { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": 100 } ] } ] }
        """;

    private const string Spec = """
        { "Route": "default", "Stable": "v1", "Canary": "v3", "Steps": [5, 25, 50, 100], "StepInterval": "00:00:30",
          "Analysis": { "MinSuccessRate": 99.0, "MaxP99Ms": 500, "MaxP99Ratio": 1.5, "MinRequests": 100 } }
        """;

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private RegistryHost _host = null!;
    private string _directory = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync(_time);
        _directory = Directory.CreateTempSubdirectory("mesh-rollout-cli-tests-").FullName;
        (await _host.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json(Policy))).EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        RegistryHost.DeleteDirectory(_directory);
    }

    [Fact]
    public async Task Start_status_pause_resume_and_promote()
    {
        var spec = File("rollout.json", Spec);
        (await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "start", spec, "--service", "reviews")).ShouldBe((0,
            "started: 'reviews' rollout of 'v3' over 'v1' on route 'default': Progressing, step 1 of 4, canary at 5%\n", string.Empty));

        (await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "pause", "-s", "reviews")).Out
            .ShouldBe("paused: 'reviews' rollout of 'v3' over 'v1' on route 'default': Paused, step 1 of 4, canary at 5%\n");
        (await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "resume", "-s", "reviews")).Code.ShouldBe(PolicyCli.Ok);
        (await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "promote", "-s", "reviews")).Out
            .ShouldBe("promoted: 'reviews' rollout of 'v3' over 'v1' on route 'default': Succeeded, step 1 of 4, canary at 100%\n");

        var status = await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "status", "-s", "reviews");
        status.Code.ShouldBe(PolicyCli.Ok);
        var lines = status.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines[0].ShouldBe("'reviews' rollout of 'v3' over 'v1' on route 'default': Succeeded, step 1 of 4, canary at 100%");
        lines[1].ShouldBe("at (UTC)             step  weight  verdict     reason");
        lines[2].ShouldStartWith("2026-03-01 12:00:00     1      5%  Started     'v3' (version v3) gets 5% of route 'default'");
        lines.Skip(2).Select(l => l.Split("  ", StringSplitOptions.RemoveEmptyEntries)[3].Trim()).ShouldBe(["Started", "Paused", "Resumed", "Promoted"]);

        // A finished rollout is not aborted: refused with the registry's reason.
        var abort = await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "abort", "-s", "reviews");
        abort.Code.ShouldBe(PolicyCli.Refused);
        abort.Err.ShouldContain("could not abort the rollout of 'reviews' (409 Conflict)");
        abort.Err.ShouldContain("The rollout is Succeeded already.");
    }

    [Fact]
    public async Task An_invalid_rollout_is_refused_with_every_path()
    {
        var bad = File("bad.json", Spec.Replace("[5, 25, 50, 100]", "[25, 5, 90]", StringComparison.Ordinal).Replace("\"v3\"", "\"v9\"", StringComparison.Ordinal));
        var (code, output, error) = await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "start", bad, "--service", "reviews");
        code.ShouldBe(PolicyCli.Refused);
        output.ShouldBeEmpty();
        error.ShouldContain("bad.json: the registry refused the rollout for 'reviews'; nothing was changed (400 Bad Request)");
        error.ShouldContain("Steps[1]: 5 does not come after 25: steps must ascend");
        error.ShouldContain("Steps[2]: the last step is 90; it must be 100");

        // The shape is right but the policy has no such subset.
        var unknown = File("unknown.json", Spec.Replace("\"v3\"", "\"v9\"", StringComparison.Ordinal));
        var refused = await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "start", unknown, "--service", "reviews");
        refused.Code.ShouldBe(PolicyCli.Refused);
        refused.Err.ShouldContain("Canary: no subset 'v9' in the policy of 'reviews'");
    }

    [Fact]
    public async Task Tokens_a_missing_rollout_and_a_missing_file_have_their_exit_codes()
    {
        var spec = File("rollout.json", Spec);
        (await RunAsync(null, "policy", "rollout", "start", spec, "-s", "reviews")).Code.ShouldBe(PolicyCli.Unauthorized);
        (await RunAsync(RegistryHost.ReviewsToken, "policy", "rollout", "start", spec, "-s", "reviews")).Code.ShouldBe(PolicyCli.Unauthorized);

        var status = await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "status", "-s", "reviews");
        status.Code.ShouldBe(PolicyCli.Refused);
        status.Err.ShouldContain("Service 'reviews' has no rollout.");
        (await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "start", Path.Combine(_directory, "nope.json"), "-s", "reviews")).Code.ShouldBe(PolicyCli.Usage);
        (await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "pause")).Code.ShouldBe(PolicyCli.Usage); // no --service

        (await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "start", spec, "-s", "reviews")).Code.ShouldBe(PolicyCli.Ok);
        var again = await RunAsync(RegistryHost.AdminToken, "policy", "rollout", "start", spec, "-s", "reviews");
        again.Code.ShouldBe(PolicyCli.Refused);
        again.Err.ShouldContain("is Progressing at step 1; abort it or let it end first");
    }

    private string File(string name, string content) => CliRunner.WriteFile(_directory, name, content);

    private Task<(int Code, string Out, string Err)> RunAsync(string? token, params string[] args) => CliRunner.RunAsync(_host.Address, token, args);
}
