namespace Mesh.Client.Tests.Documentation;

/// <summary>Every link of the README, docs/ and the benchmark report leads somewhere inside a clone.</summary>
public sealed class DocumentationLinksTests
{
    [Fact]
    public void Every_link_resolves_inside_the_repository()
    {
        var problems = new List<string>();
        var links = 0;
        foreach (var path in RepositoryDocuments.All())
        {
            var document = RepositoryDocuments.Load(path);
            links += document.Links.Count;
            problems.AddRange(LinkChecker.Check(document, RepositoryDocuments.Root, RepositoryDocuments.Load));
        }

        links.ShouldBeGreaterThan(0, "the documents link to each other");
        problems.ShouldBeEmpty(string.Join('\n', problems));
    }

    [Fact]
    public void Links_out_of_the_repository_missing_files_and_headings_are_reported_with_their_line()
    {
        var document = MarkdownDocument.Parse("docs/page.md", """
            # Page

            See [design](../../shared/DESIGN.md), [site](https://example.org/x), [gone](missing.md),
            [bad heading](security.md#no-such-heading) and [local](#nowhere).
            Fine: [security](security.md#security-model), [readme](../README.md), [here](#page), `[code](nowhere.md)`.

            ```md
            [in a code block](nowhere.md)
            ```
            """);

        var problems = LinkChecker.Check(document, RepositoryDocuments.Root, RepositoryDocuments.Load);

        problems.ShouldBe(
        [
            "docs/page.md:3: '../../shared/DESIGN.md' points outside the repository",
            "docs/page.md:3: 'https://example.org/x' leaves the repository",
            "docs/page.md:3: 'missing.md' does not exist",
            "docs/page.md:4: no heading '#no-such-heading' in docs/security.md",
            "docs/page.md:4: no heading '#nowhere' in docs/page.md",
        ]);
    }

    [Theory]
    [InlineData("The `Mesh` section", "the-mesh-section")]
    [InlineData("Retries, budgets and hedging", "retries-budgets-and-hedging")]
    [InlineData("Security: mTLS and authorization", "security-mtls-and-authorization")]
    public void Headings_get_GitHub_anchors(string heading, string anchor) => MarkdownDocument.Slug(heading).ShouldBe(anchor);
}
