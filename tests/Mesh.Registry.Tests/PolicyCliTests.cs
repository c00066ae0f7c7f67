using Mesh.Registry.Cli;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary><c>policy apply|validate|get|history|rollback</c> against a real registry: exit codes, and errors with their paths.</summary>
public sealed class PolicyCliTests : IAsyncLifetime
{
    private const string Canary = """
        { "Subsets": { "v1": { "version": "v1" }, "v3": { "version": "v3" } },
          "Routes": [ { "Name": "canary", "Destinations": [ { "Subset": "v1", "Weight": 90 }, { "Subset": "v3", "Weight": 10 } ] } ] }
        """;

    private RegistryHost _host = null!;
    private string _directory = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync();
        _directory = Directory.CreateTempSubdirectory("mesh-cli-tests-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        RegistryHost.DeleteDirectory(_directory);
    }

    private string File(string name, string content) => CliRunner.WriteFile(_directory, name, content);

    private Task<(int Code, string Out, string Err)> RunAsync(string? token, params string[] args) => CliRunner.RunAsync(_host.Address, token, args);

    [Fact]
    public async Task Apply_get_history_and_rollback()
    {
        var canary = File("canary.json", Canary);
        var allV3 = File("all-v3.json", Canary.Replace("\"Weight\": 90", "\"Weight\": 0", StringComparison.Ordinal).Replace("\"Weight\": 10", "\"Weight\": 100", StringComparison.Ordinal));

        (await RunAsync(RegistryHost.AdminToken, "policy", "validate", canary, "--service", "reviews")).ShouldBe((0, "canary.json: valid policy for 'reviews'\n", string.Empty));
        (await RunAsync(RegistryHost.AdminToken, "policy", "apply", canary, "--service", "reviews")).Out.ShouldBe("applied: 'reviews' policy version 1\n");
        (await RunAsync(RegistryHost.AdminToken, "policy", "apply", allV3, "-s", "reviews")).Out.ShouldBe("applied: 'reviews' policy version 2\n");

        var get = await RunAsync(RegistryHost.AdminToken, "policy", "get", "--service", "reviews");
        get.Code.ShouldBe(0);
        get.Err.ShouldContain("version 2");
        get.Out.ShouldContain("\"Weight\": 100");

        var rollback = await RunAsync(RegistryHost.AdminToken, "policy", "rollback", "--service", "reviews", "--version", "1");
        rollback.ShouldBe((0, "rolled back: 'reviews' policy version 3 has version 1's document\n", string.Empty));

        var history = await RunAsync(RegistryHost.AdminToken, "policy", "history", "--service", "reviews");
        history.Code.ShouldBe(0);
        var lines = history.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(4);
        lines[1].ShouldStartWith("       3");
        lines[1].ShouldEndWith("rollback to 1");

        (await _host.Admin.GetJsonAsync("/v1/policies/reviews")).GetProperty("document").GetRawText().ShouldContain("\"Weight\":90");
    }

    [Fact]
    public async Task An_invalid_document_is_refused_with_every_path_and_nothing_changes()
    {
        var bad = File("bad.json", """
            { "Routes": [ { "Destinations": [ { "Subset": "v1", "Weight": 90 }, { "Subset": "v3", "Weight": 20 } ] } ],
              "LoadBalancer": { "Policy": "Fastest" } }
            """);
        var (code, output, error) = await RunAsync(RegistryHost.AdminToken, "policy", "apply", bad, "--service", "reviews");
        code.ShouldBe(PolicyCli.Refused);
        output.ShouldBeEmpty();
        error.ShouldContain("bad.json: the policy for 'reviews' is invalid; nothing was changed");
        error.ShouldContain("Routes:0:Destinations");
        error.ShouldContain("110");
        error.ShouldContain("LoadBalancer");
        (await _host.Admin.GetJsonAsync("/v1/policies/reviews")).GetProperty("version").GetInt64().ShouldBe(0);

        var notJson = File("broken.json", "{ \"Routes\": [ ");
        (await RunAsync(RegistryHost.AdminToken, "policy", "validate", notJson, "--service", "reviews")).Code.ShouldBe(PolicyCli.Refused);
    }

    [Fact]
    public async Task Tokens_usage_and_an_unreachable_registry_have_their_own_exit_codes()
    {
        var canary = File("canary.json", Canary);
        (await RunAsync(null, "policy", "apply", canary, "--service", "reviews")).Code.ShouldBe(PolicyCli.Unauthorized);
        (await RunAsync("wrong-token", "policy", "apply", canary, "--service", "reviews")).Code.ShouldBe(PolicyCli.Unauthorized);

        var join = await RunAsync(RegistryHost.ReviewsToken, "policy", "apply", canary, "--service", "reviews");
        join.Code.ShouldBe(PolicyCli.Unauthorized);
        join.Err.ShouldContain("admin token");

        (await RunAsync(RegistryHost.AdminToken, "policy", "apply", canary)).Code.ShouldBe(PolicyCli.Usage); // no --service
        (await RunAsync(RegistryHost.AdminToken, "policy", "apply", canary, "--service", "../x")).Code.ShouldBe(PolicyCli.Usage);
        var missing = await RunAsync(RegistryHost.AdminToken, "policy", "apply", Path.Combine(_directory, "nope.json"), "--service", "reviews");
        missing.Code.ShouldBe(PolicyCli.Usage);
        missing.Err.ShouldContain("nope.json");
        (await RunAsync(RegistryHost.AdminToken, "policy", "rollback", "--service", "reviews", "--version", "7")).Code.ShouldBe(PolicyCli.Refused);

        var output = new StringWriter();
        var error = new StringWriter();
        var code = await RegistryCli.RunAsync(["policy", "get", "--service", "reviews", "--registry", "http://127.0.0.1:1", "--token", "t"], output, error, _ => null);
        code.ShouldBe(PolicyCli.Unreachable);
        error.ToString().ShouldContain("could not be reached");
        error.ToString().ShouldNotContain("--token");
    }
}
