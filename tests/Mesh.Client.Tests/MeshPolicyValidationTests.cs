using System.Text;

namespace Mesh.Client.Tests;

public sealed class MeshPolicyValidationTests
{
    private static IReadOnlyList<string> Validate(string json) => MeshPolicyValidation.Validate(new MemoryStream(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void A_valid_document_has_no_errors()
    {
        Validate("""{ "Routes": [ { "Name": "canary", "Destinations": [ { "Subset": "v1", "Weight": 100 } ] } ], "Subsets": { "v1": { "version": "v1" } } }""")
            .ShouldBeEmpty();
    }

    [Fact]
    public void Every_error_comes_with_its_path()
    {
        var errors = Validate("""
            { "Subsets": { "v1": { "version": "v1" } },
              "Routes": [ { "Name": "a", "Destinations": [ { "Subset": "v1", "Weight": 100 } ] },
                          { "Name": "b", "Destinations": [ { "Subset": "v1", "Weight": 60 }, { "Subset": "v9", "Weight": 50 } ] } ] }
            """);

        errors.ShouldContain("Routes:1:Destinations: weights sum to 110, must be 100");
        errors.ShouldContain(e => e.StartsWith("Routes:1:Destinations:1:Subset: unknown subset 'v9'", StringComparison.Ordinal));
        errors.Count.ShouldBe(2, string.Join("\n", errors));
    }

    [Fact]
    public void A_value_where_a_section_or_list_belongs_is_an_error_not_a_default()
    {
        // Each of these was read as an empty section: no header to match, no destinations, a subset selecting every
        // endpoint, the default load balancer and retry.
        var errors = Validate("""
            { "Subsets": { "v1": { "version": "v1" }, "v2": "version=v2" },
              "LoadBalancer": "RingHash",
              "Routes": [ { "Name": "testers", "Match": { "Headers": "end-user=jason" }, "Destinations": "v2", "Retry": 3 },
                          { "Name": "default", "Match": "/api" } ] }
            """);

        errors.ShouldBe(
        [
            "Subsets:v2: expected a section, found a value",
            "LoadBalancer: expected a section, found a value",
            "Routes:0:Match:Headers: expected a section, found a value",
            "Routes:0:Destinations: expected a section, found a value",
            "Routes:0:Retry: expected a section, found a value",
            "Routes:1:Match: expected a section, found a value",
        ], ignoreOrder: true);
        Validate("""{ "Routes": "default" }""").ShouldBe(["Routes: expected a section, found a value"]);
    }

    [Fact]
    public void A_key_given_twice_is_reported_with_the_other_errors()
    {
        var errors = Validate("""
            { "Subsets": { "v1": { "version": "v1" } },
              "Routes": [ { "Name": "a", "Destinations": [ { "Subset": "v1", "Weight": 90 } ] } ],
              "routes": [],
              "LoadBalancer": { "Policy": "Fastest" } }
            """);

        errors.ShouldContain("routes: given more than once");
        errors.ShouldContain("Routes:0:Destinations: weights sum to 90, must be 100");
        errors.ShouldContain(e => e.StartsWith("LoadBalancer:Policy: 'Fastest' is not one of", StringComparison.Ordinal));
        errors.Count.ShouldBe(3, string.Join("\n", errors));
    }

    [Fact]
    public void A_route_name_may_not_be_the_default_name_of_another_route()
    {
        // An unnamed route is route-<index> in metrics, spans and the model: two routes would share one name.
        Validate("""{ "Routes": [ { "Name": "route-1", "Match": { "Path": "/a" } }, { } ] }""")
            .ShouldBe(["Routes:1: its default name 'route-1' is used by an earlier route; give it a Name"]);
        Validate("""{ "Routes": [ { "Match": { "Path": "/a" } }, { "Name": "ROUTE-0" } ] }""")
            .ShouldBe(["Routes:1:Name: 'ROUTE-0' is used by an earlier route"]);
    }

    [Theory]
    [InlineData("reviews", true)]
    [InlineData("reviews-v2.a_b", true)]
    [InlineData("", false)]
    [InlineData("re views", false)]
    [InlineData("reviews/v2", false)]
    public void Names_follow_the_host_name_rule(string name, bool valid) => MeshPolicyValidation.IsValidName(name).ShouldBe(valid);

    [Fact]
    public void A_name_is_at_most_63_characters()
    {
        MeshPolicyValidation.IsValidName(new string('a', 63)).ShouldBeTrue();
        MeshPolicyValidation.IsValidName(new string('a', 64)).ShouldBeFalse();
    }
}
