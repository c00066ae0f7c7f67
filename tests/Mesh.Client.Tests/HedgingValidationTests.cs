using System.Text;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests;

/// <summary>A route's <c>Hedging</c> as read from configuration and from a registry policy document, and its checks.</summary>
public sealed class HedgingValidationTests
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

    private static string Route(string route) => $$"""{ "Services": { "a": { "Routes": [ {{route}} ] } } }""";

    [Fact]
    public void A_valid_hedging_policy_is_read_and_accepted()
    {
        var options = Read(Route("""{ "Timeout": "00:00:02", "Retry": { "PerTryTimeout": "00:00:01" }, "Hedging": { "MaxAttempts": 3, "Delay": "00:00:00.050" } }"""));

        PolicyValidator.Validate(options).ShouldBeEmpty();
        var hedging = options.Services["a"].Routes[0].Hedging.ShouldNotBeNull();
        hedging.MaxAttempts.ShouldBe(3);
        hedging.Delay.ShouldBe(TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public void A_zero_delay_and_the_default_attempts_are_valid()
    {
        var options = Read(Route("""{ "Hedging": { "Delay": "00:00:00" } }"""));

        PolicyValidator.Validate(options).ShouldBeEmpty();
        options.Services["a"].Routes[0].Hedging!.MaxAttempts.ShouldBe(2);
    }

    [Theory]
    [InlineData("""{ "Hedging": { "MaxAttempts": 1, "Delay": "00:00:00.050" } }""", "Mesh:Services:a:Routes:0:Hedging:MaxAttempts: 1 must be between 2 and 10")]
    [InlineData("""{ "Hedging": { "MaxAttempts": 11, "Delay": "00:00:00.050" } }""", "Mesh:Services:a:Routes:0:Hedging:MaxAttempts: 11 must be between 2 and 10")]
    [InlineData("""{ "Hedging": { "MaxAttempts": 2 } }""", "Mesh:Services:a:Routes:0:Hedging:Delay: required")]
    [InlineData("""{ "Hedging": { "Delay": "-00:00:01" } }""", "Mesh:Services:a:Routes:0:Hedging:Delay: -00:00:01 must be between 00:00:00 and 1.00:00:00")]
    [InlineData("""{ "Hedging": { "Delay": "2.00:00:00" } }""", "Mesh:Services:a:Routes:0:Hedging:Delay: 2.00:00:00 must be between 00:00:00 and 1.00:00:00")]
    [InlineData("""{ "Timeout": "00:00:01", "Hedging": { "Delay": "00:00:01" } }""", "Mesh:Services:a:Routes:0:Hedging:Delay: 00:00:01 must be below the route's Timeout (00:00:01)")]
    [InlineData("""{ "Retry": { "PerTryTimeout": "00:00:00.100" }, "Hedging": { "Delay": "00:00:00.200" } }""", "Mesh:Services:a:Routes:0:Hedging:Delay: 00:00:00.2000000 must be below Retry:PerTryTimeout (00:00:00.1000000)")]
    [InlineData("""{ "Hedging": { "Delay": "soon" } }""", "Mesh:Services:a:Routes:0:Hedging:Delay: 'soon' is not a duration")]
    [InlineData("""{ "Hedging": { "MaxAttempts": "two", "Delay": "00:00:01" } }""", "Mesh:Services:a:Routes:0:Hedging:MaxAttempts: 'two' is not an integer")]
    [InlineData("""{ "Hedging": { "Delay": "00:00:01", "Dealy": "00:00:01" } }""", "Mesh:Services:a:Routes:0:Hedging:Dealy: unknown setting 'Dealy'; expected one of MaxAttempts, Delay")]
    public void A_mistake_is_reported_at_its_path(string route, string expectedStart)
    {
        var errors = Errors(Route(route));

        errors.ShouldContain(e => e.StartsWith(expectedStart, StringComparison.Ordinal), $"errors were:\n{string.Join("\n", errors)}");
    }

    [Fact]
    public void Every_error_of_a_route_is_reported_together()
    {
        var errors = Errors(Route("""{ "Timeout": "00:00:00.010", "Hedging": { "MaxAttempts": 0, "Delay": "00:00:00.050" } }"""));

        errors.ShouldBe(
        [
            "Mesh:Services:a:Routes:0:Hedging:MaxAttempts: 0 must be between 2 and 10",
            "Mesh:Services:a:Routes:0:Hedging:Delay: 00:00:00.0500000 must be below the route's Timeout (00:00:00.0100000): no hedge could start",
        ]);
    }

    [Fact]
    public void A_registry_policy_document_is_checked_the_same_way()
    {
        var (errors, policy) = PolicyDocumentReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(
            """{ "Routes": [ { "Hedging": { "MaxAttempts": 12, "Delay": "00:00:00.050" } } ] }""")));

        policy.ShouldBeNull();
        errors.ShouldBe(["Routes:0:Hedging:MaxAttempts: 12 must be between 2 and 10"]);
    }

    [Fact]
    public void Options_set_in_code_are_validated_too()
    {
        var options = new MeshOptions();
        options.Services["a"] = new ServicePolicyOptions
        {
            Routes = { new RouteOptions { Hedging = new HedgingOptions { MaxAttempts = 2 } } },
        };

        PolicyValidator.Validate(options).ShouldBe(["Mesh:Services:a:Routes:0:Hedging:Delay: required (how long an attempt waits before the next hedge starts)"]);
    }
}
