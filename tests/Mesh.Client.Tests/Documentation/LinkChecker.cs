namespace Mesh.Client.Tests.Documentation;

/// <summary>
/// Checks a document's links: each must name a file or folder inside the repository (and a heading, when it has a
/// fragment into Markdown). Links out of the repository are refused whatever they point to, since a reader of a clone
/// cannot count on them.
/// </summary>
internal static class LinkChecker
{
    /// <summary>Every broken link of the document, each as <c>file:line: message</c>.</summary>
    public static List<string> Check(MarkdownDocument document, string root, Func<string, MarkdownDocument> load)
    {
        var problems = new List<string>();
        var rootPrefix = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)) + Path.DirectorySeparatorChar;
        foreach (var link in document.Links)
        {
            var where = $"{document.Path}:{link.Line}";
            var target = link.Target;
            if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("//", StringComparison.Ordinal)
                || target.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{where}: '{target}' leaves the repository");
                continue;
            }

            var hash = target.IndexOf('#', StringComparison.Ordinal);
            var path = hash < 0 ? target : target[..hash];
            var fragment = hash < 0 ? null : target[(hash + 1)..];
            if (path.Length == 0)
            {
                if (fragment is not null && !document.Anchors.Contains(fragment))
                {
                    problems.Add($"{where}: no heading '#{fragment}' in {document.Path}");
                }

                continue;
            }

            if (path.StartsWith('/'))
            {
                problems.Add($"{where}: '{target}' is absolute; write it relative to {document.Path}");
                continue;
            }

            var directory = Path.GetDirectoryName(Path.Combine(root, document.Path))!;
            var full = Path.GetFullPath(Path.Combine(directory, Uri.UnescapeDataString(path)));
            if (!full.StartsWith(rootPrefix, StringComparison.Ordinal) && full + Path.DirectorySeparatorChar != rootPrefix)
            {
                problems.Add($"{where}: '{target}' points outside the repository");
                continue;
            }

            if (!File.Exists(full) && !Directory.Exists(full))
            {
                problems.Add($"{where}: '{target}' does not exist");
                continue;
            }

            if (fragment is not null && full.EndsWith(".md", StringComparison.OrdinalIgnoreCase))
            {
                var relative = Path.GetRelativePath(root, full).Replace('\\', '/');
                if (!load(relative).Anchors.Contains(fragment))
                {
                    problems.Add($"{where}: no heading '#{fragment}' in {relative}");
                }
            }
        }

        return problems;
    }
}
