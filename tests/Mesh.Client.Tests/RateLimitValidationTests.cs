using System.Text;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests;

/// <summary>
/// <c>Mesh:RateLimits</c> and a policy document's <c>RateLimits</c>: read with every setting, and every mistake reported
/// at its path, by the same reader and validator the registry uses.
/// </summary>
public sealed class RateLimitValidationTests
{
    private static MeshOptions Read(string meshJson)
    {
        var config = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("{ \"Mesh\": " + meshJson + " }")))
            .Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);
        return options;
    }

    private static List<string> Errors(string meshJson) => PolicyValidator.Validate(Read(meshJson));

    [Fact]
    public void Both_limiters_are_read_with_every_setting_and_are_valid()
    {
        var options = Read("""
        { "RateLimits": [
            { "Name": "writes", "From": [ "productpage" ], "Paths": [ "/reviews/*" ], "Methods": [ "POST" ],
              "Limiter": "TokenBucket", "TokenLimit": 20, "TokensPerPeriod": 5, "ReplenishmentPeriod": "00:00:01", "PerCaller": true },
            { "Name": "all", "Limiter": "fixedwindow", "PermitLimit": 100, "Window": "00:01:00", "DryRun": true } ] }
        """);

        PolicyValidator.Validate(options).ShouldBeEmpty();
        var writes = options.RateLimits[0];
        writes.Name.ShouldBe("writes");
        writes.From.ShouldBe(["productpage"]);
        writes.Paths.ShouldBe(["/reviews/*"]);
        writes.Methods.ShouldBe(["POST"]);
        writes.Limiter.ShouldBe(RateLimiterKind.TokenBucket);
        writes.TokenLimit.ShouldBe(20);
        writes.TokensPerPeriod.ShouldBe(5);
        writes.ReplenishmentPeriod.ShouldBe(TimeSpan.FromSeconds(1));
        writes.PerCaller.ShouldBeTrue();
        writes.DryRun.ShouldBeFalse();
        var all = options.RateLimits[1];
        all.Limiter.ShouldBe(RateLimiterKind.FixedWindow);
        all.PermitLimit.ShouldBe(100);
        all.Window.ShouldBe(TimeSpan.FromMinutes(1));
        all.PerCaller.ShouldBeFalse();
        all.DryRun.ShouldBeTrue();
    }

    [Fact]
    public void Every_error_of_a_rule_list_is_reported_with_its_path()
    {
        var errors = Errors("""
        { "RateLimits": [
            { "From": [ "not a name" ], "Paths": [ "/a//b", "x" ], "Methods": [ "G T" ], "TokenLimit": 0, "TokensPerPeriod": 2000000 },
            { "Name": "w", "Limiter": "FixedWindow", "Window": "00:00:00", "TokenLimit": 5, "ReplenishmentPeriod": "00:00:01", "TokensPerPeriod": 1 },
            { "Name": "W", "Limiter": "TokenBucket", "TokenLimit": 5, "TokensPerPeriod": 10, "ReplenishmentPeriod": "2.00:00:00", "PermitLimit": 3, "Window": "00:00:01" } ] }
        """);

        string[] expected =
        [
            "Mesh:RateLimits:0:Name: required",
            "Mesh:RateLimits:0:From:0: 'not a name' is not a service name or *",
            "Mesh:RateLimits:0:Paths:0: '/a//b' must not contain '//' (duplicate slashes are ignored when matching)",
            "Mesh:RateLimits:0:Paths:1: 'x' must start with '/'",
            "Mesh:RateLimits:0:Methods:0: 'G T' is not an HTTP method",
            "Mesh:RateLimits:0:TokenLimit: 0 must be between 1 and 1000000",
            "Mesh:RateLimits:0:TokensPerPeriod: 2000000 must be between 1 and 1000000",
            "Mesh:RateLimits:0:ReplenishmentPeriod: required",
            "Mesh:RateLimits:1:PermitLimit: required",
            "Mesh:RateLimits:1:Window: 00:00:00 must be between 00:00:00.001 and 1.00:00:00",
            "Mesh:RateLimits:1:TokenLimit: not a setting of a FixedWindow limiter",
            "Mesh:RateLimits:1:TokensPerPeriod: not a setting of a FixedWindow limiter",
            "Mesh:RateLimits:1:ReplenishmentPeriod: not a setting of a FixedWindow limiter",
            "Mesh:RateLimits:2:Name: 'W' is the name of an earlier rule",
            "Mesh:RateLimits:2:ReplenishmentPeriod: 2.00:00:00 must be between 00:00:00.001 and 1.00:00:00",
            "Mesh:RateLimits:2:TokensPerPeriod: 10 must not exceed TokenLimit (5); the bucket holds no more",
            "Mesh:RateLimits:2:PermitLimit: not a setting of a TokenBucket limiter",
            "Mesh:RateLimits:2:Window: not a setting of a TokenBucket limiter",
        ];
        errors.ShouldBe(expected, ignoreOrder: true);
    }

    [Theory]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "Limiter": "SlidingWindow" } ] }""", "Mesh:RateLimits:0:Limiter: 'SlidingWindow' is not one of TokenBucket, FixedWindow")]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "Limiter": "1" } ] }""", "Mesh:RateLimits:0:Limiter: '1' is not one of TokenBucket, FixedWindow")]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "TokenLimit": "many" } ] }""", "Mesh:RateLimits:0:TokenLimit: 'many' is not an integer")]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "ReplenishmentPeriod": "soon" } ] }""", "Mesh:RateLimits:0:ReplenishmentPeriod: 'soon' is not a duration")]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "PerCaller": "yes" } ] }""", "Mesh:RateLimits:0:PerCaller: 'yes' is not true or false")]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "DryRun": "maybe" } ] }""", "Mesh:RateLimits:0:DryRun: 'maybe' is not true or false")]
    [InlineData("""{ "RateLimits": [ { "Name": "a b", "TokenLimit": 1, "TokensPerPeriod": 1, "ReplenishmentPeriod": "00:00:01" } ] }""", "Mesh:RateLimits:0:Name: 'a b' is not a valid name")]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "Paths": [ "/config/" ] } ] }""", "Mesh:RateLimits:0:Paths:0: '/config/' must not end with '/'")]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "Paths": [ "/a%20b" ] } ] }""", "Mesh:RateLimits:0:Paths:0: '/a%20b' must be a decoded path")]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "Paths": [ "/a/./b" ] } ] }""", "Mesh:RateLimits:0:Paths:0: '/a/./b' must not contain '.' or '..' segments")]
    [InlineData("""{ "Services": { "reviews": { "RateLimits": [ { "Name": "r", "Limiter": "FixedWindow", "PermitLimit": -1, "Window": "00:00:01" } ] } } }""", "Mesh:Services:reviews:RateLimits:0:PermitLimit: -1 must be between 1 and 1000000")]
    [InlineData("""{ "RateLimits": [ { "Name": "r", "Bucket": 5 } ] }""", "Mesh:RateLimits:0:Bucket: unknown setting 'Bucket'")]
    public void A_mistake_is_reported_at_its_path(string meshJson, string expectedStart)
    {
        var errors = Errors(meshJson);
        errors.ShouldContain(e => e.StartsWith(expectedStart, StringComparison.Ordinal), $"errors were:\n{string.Join("\n", errors)}");
    }

    [Fact]
    public void Options_set_in_code_are_validated_too()
    {
        var options = new MeshOptions();
        options.RateLimits.Add(new RateLimitRuleOptions { Name = "r", Limiter = (RateLimiterKind)7 });
        options.RateLimits.Add(new RateLimitRuleOptions { Name = "s", Limiter = RateLimiterKind.FixedWindow, PermitLimit = 1, Window = TimeSpan.FromSeconds(1) });

        PolicyValidator.Validate(options).ShouldBe(["Mesh:RateLimits:0:Limiter: '7' is not TokenBucket or FixedWindow"]);
    }

    [Fact]
    public void A_policy_document_carries_rate_limits_read_and_validated_as_the_configurations()
    {
        var (errors, policy) = PolicyDocumentReader.Read(new MemoryStream(Encoding.UTF8.GetBytes("""
        { "RateLimits": [ { "Name": "r", "From": [ "productpage" ], "Limiter": "FixedWindow", "PermitLimit": 10, "Window": "00:00:10", "PerCaller": true } ] }
        """)));
        errors.ShouldBeEmpty();
        policy!.RateLimits.ShouldHaveSingleItem().PermitLimit.ShouldBe(10);

        (errors, policy) = PolicyDocumentReader.Read(new MemoryStream(Encoding.UTF8.GetBytes("""
        { "RateLimits": [ { "Name": "r", "TokenLimit": 0, "TokensPerPeriod": 1, "ReplenishmentPeriod": "00:00:01", "Extra": 1 } ] }
        """)));
        policy.ShouldBeNull();
        errors.ShouldBe(
        [
            "RateLimits:0:Extra: unknown setting 'Extra'; expected one of Name, From, Paths, Methods, Limiter, TokenLimit, TokensPerPeriod, ReplenishmentPeriod, PermitLimit, Window, PerCaller, DryRun",
            "RateLimits:0:TokenLimit: 0 must be between 1 and 1000000",
        ]);
    }
}
