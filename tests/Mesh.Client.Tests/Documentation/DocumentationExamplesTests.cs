using System.Reflection;
using System.Text.RegularExpressions;
using Mesh.Client.Configuration;

namespace Mesh.Client.Tests.Documentation;

/// <summary>
/// The JSON examples of the README and docs/ are read and validated by the code that reads configuration and
/// registry policies, so a documented key that the code does not know (or a value it refuses) fails here.
/// </summary>
public sealed partial class DocumentationExamplesTests
{
    [Fact]
    public void Every_json_example_is_accepted_by_the_code_that_reads_it()
    {
        var problems = new List<string>();
        foreach (var path in RepositoryDocuments.All())
        {
            problems.AddRange(JsonExampleChecker.Check(RepositoryDocuments.Load(path)));
        }

        problems.ShouldBeEmpty(string.Join('\n', problems));
    }

    /// <summary>The features issue readers asked examples for each have at least one validated example.</summary>
    [Theory]
    [InlineData("Routes")]
    [InlineData("Retry")]
    [InlineData("Hedging")]
    [InlineData("Fault")]
    [InlineData("Mirror")]
    [InlineData("LoadBalancer")]
    [InlineData("Locality")]
    [InlineData("SlowStart")]
    [InlineData("OutlierDetection")]
    [InlineData("CircuitBreaker")]
    [InlineData("RetryBudget")]
    [InlineData("ConnectionPool")]
    [InlineData("Authorization")]
    [InlineData("RateLimits")]
    [InlineData("Telemetry")]
    [InlineData("Registry")]
    [InlineData("Security")]
    public void Each_feature_has_a_validated_example(string key)
    {
        var validated = RepositoryDocuments.All()
            .Select(RepositoryDocuments.Load)
            .SelectMany(d => d.CodeBlocks)
            .Where(b => b.Language == "json" && (b.Tags.Count == 0 || b.Tags[0] == JsonExampleChecker.PolicyTag));

        validated.ShouldContain(b => b.Code.Contains($"\"{key}\"", StringComparison.Ordinal), $"an example with \"{key}\"");
    }

    /// <summary>Every setting the reader accepts is named in docs/, so a new option cannot ship undocumented.</summary>
    [Fact]
    public void Every_setting_of_the_Mesh_section_is_documented()
    {
        var docs = string.Join('\n', Directory.EnumerateFiles(Path.Combine(RepositoryDocuments.Root, "docs"), "*.md").Select(File.ReadAllText));
        var documented = DocumentedKey().Matches(docs).Select(m => m.Groups["key"].Value).ToHashSet(StringComparer.Ordinal);

        var settings = typeof(OptionKeys).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(string[]))
            .SelectMany(f => ((string[])f.GetValue(null)!).Select(key => (Section: f.Name, Key: key)))
            .ToList();

        settings.Count.ShouldBeGreaterThan(50);
        settings.Where(s => !documented.Contains(s.Key)).Select(s => $"{s.Section}:{s.Key}").ShouldBeEmpty();
    }

    [Fact]
    public void A_misspelt_key_fails_with_file_and_line()
    {
        var document = MarkdownDocument.Parse("docs/example.md", """
            # Example

            ```json
            { "Mesh": { "Services": { "reviews": {
              "Endpoints": [ { "Address": "http://127.0.0.1:5001" } ],
              "Routes": [ { "Retry": { "Atempts": 2 } } ] } } } }
            ```

            ```json policy
            { "OutlierDetection": { "Consecutive5xxErrors": -1 } }
            ```
            """);

        JsonExampleChecker.Check(document).ShouldBe(
        [
            "docs/example.md:3: Mesh:Services:reviews:Routes:0:Retry:Atempts: unknown setting 'Atempts'; expected one of Attempts, PerTryTimeout, RetryOn, RetryNonIdempotent, BaseDelay, MaxDelay",
            "docs/example.md:9: OutlierDetection:Consecutive5xxErrors: -1 must not be negative",
        ]);
    }

    [Fact]
    public void Json_that_is_not_mesh_configuration_must_say_what_it_is()
    {
        var document = MarkdownDocument.Parse("docs/example.md", """
            ```json
            { "service": "reviews", "ttl": "01:00:00" }
            ```
            ```json registry-api
            { "service": "reviews", "ttl": "01:00:00" }
            ```
            ```json registry-config
            { "MeshRegistry": { "AdminToken": "secret" } }
            ```
            ```json dashboard
            { }
            ```
            ```jsonc
            { }
            ```
            ```json registry-api
            { "service": "reviews",
              "ttl": }
            ```
            """);

        var problems = JsonExampleChecker.Check(document);

        problems.Count.ShouldBe(4, string.Join('\n', problems));
        problems[0].ShouldStartWith("docs/example.md:1: an untagged json block is app configuration and holds a 'Mesh' section");
        problems[1].ShouldStartWith("docs/example.md:10: unknown tag 'dashboard'");
        problems[2].ShouldStartWith("docs/example.md:13: '```jsonc' is not checked");
        problems[3].ShouldStartWith("docs/example.md:16: not valid JSON (line 18)");
    }

    [GeneratedRegex(@"`(?<key>[A-Za-z][A-Za-z0-9]*)`")]
    private static partial Regex DocumentedKey();
}
