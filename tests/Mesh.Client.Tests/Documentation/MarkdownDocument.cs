using System.Text;
using System.Text.RegularExpressions;

namespace Mesh.Client.Tests.Documentation;

/// <summary>
/// Just enough of CommonMark for the documentation tests: fenced code blocks, inline links outside code, and the
/// anchors GitHub gives headings. The docs are ours, so the subset they use is the subset read here.
/// </summary>
internal sealed partial class MarkdownDocument
{
    private MarkdownDocument(string path, List<MarkdownCodeBlock> blocks, List<MarkdownLink> links, HashSet<string> anchors)
    {
        Path = path;
        CodeBlocks = blocks;
        Links = links;
        Anchors = anchors;
    }

    /// <summary>The file, relative to the repository root.</summary>
    public string Path { get; }

    public IReadOnlyList<MarkdownCodeBlock> CodeBlocks { get; }

    public IReadOnlyList<MarkdownLink> Links { get; }

    /// <summary>The fragment each heading is reachable by, as GitHub renders it.</summary>
    public IReadOnlySet<string> Anchors { get; }

    public static MarkdownDocument Parse(string path, string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var blocks = new List<MarkdownCodeBlock>();
        var links = new List<MarkdownLink>();
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var anchorCounts = new Dictionary<string, int>(StringComparer.Ordinal);

        for (var i = 0; i < lines.Length; i++)
        {
            var fence = Fence().Match(lines[i]);
            if (fence.Success)
            {
                var marker = fence.Groups["marker"].Value;
                var info = fence.Groups["info"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var code = new StringBuilder();
                var start = i;
                for (i++; i < lines.Length && !lines[i].TrimStart().StartsWith(marker, StringComparison.Ordinal); i++)
                {
                    code.Append(lines[i]).Append('\n');
                }

                blocks.Add(new MarkdownCodeBlock(start + 1, info.Length > 0 ? info[0] : string.Empty, info.Skip(1).ToArray(), code.ToString()));
                continue;
            }

            var heading = Heading().Match(lines[i]);
            if (heading.Success)
            {
                var slug = Slug(heading.Groups["title"].Value);
                var n = anchorCounts.GetValueOrDefault(slug);
                anchorCounts[slug] = n + 1;
                anchors.Add(n == 0 ? slug : $"{slug}-{n}");
            }

            var prose = InlineCode().Replace(lines[i], string.Empty);
            foreach (Match link in Link().Matches(prose))
            {
                links.Add(new MarkdownLink(i + 1, link.Groups["target"].Value));
            }
        }

        return new MarkdownDocument(path, blocks, links, anchors);
    }

    /// <summary>GitHub's heading anchor: lower case, punctuation but '-' and '_' dropped, spaces as '-'.</summary>
    public static string Slug(string heading)
    {
        var slug = new StringBuilder();
        foreach (var c in heading.Trim().ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c is '-' or '_')
            {
                slug.Append(c);
            }
            else if (c == ' ')
            {
                slug.Append('-');
            }
        }

        return slug.ToString();
    }

    [GeneratedRegex(@"^\s{0,3}(?<marker>```+|~~~+)\s*(?<info>[^`]*)$")]
    private static partial Regex Fence();

    [GeneratedRegex(@"^#{1,6}\s+(?<title>.+?)\s*#*\s*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"`[^`]*`")]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"\]\((?<target>[^)\s]+)(?:\s+""[^""]*"")?\)")]
    private static partial Regex Link();
}
