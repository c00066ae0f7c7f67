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
