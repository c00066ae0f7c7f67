namespace Mesh.Client.Tests.Documentation;

/// <summary>
/// The repository's user-facing Markdown: the front README, everything under docs/, the benchmark report with its
/// method and its notebook, the READMEs of the projects, and the packages' readmes (src/*/PACKAGE.md).
/// </summary>
internal static class RepositoryDocuments
{
    public static string Root { get; } = FindRoot();

    /// <summary>Paths relative to <see cref="Root"/>, with '/' separators, in a stable order.</summary>
    public static IReadOnlyList<string> All()
    {
        var files = new List<string> { "README.md" };
        files.AddRange(Directory.EnumerateFiles(Path.Combine(Root, "docs"), "*.md", SearchOption.AllDirectories).Select(Relative));
        files.AddRange(Directory.EnumerateFiles(Path.Combine(Root, "benchmarks"), "*.md", SearchOption.TopDirectoryOnly).Select(Relative));
        files.AddRange(Directory.EnumerateFiles(Path.Combine(Root, "benchmarks", "results"), "*.md", SearchOption.TopDirectoryOnly).Select(Relative));

        // The READMEs beside the code, where the docs send readers for a project's reference.
        foreach (var folder in new[] { "src", "benchmarks" })
        {
            files.AddRange(Directory.EnumerateFiles(Path.Combine(Root, folder), "README.md", SearchOption.AllDirectories)
                .Select(Relative)
                .Where(f => f != "benchmarks/README.md" && !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal)));
        }

        // What nuget.org shows for each package.
        files.AddRange(Directory.EnumerateFiles(Path.Combine(Root, "src"), "PACKAGE.md", SearchOption.AllDirectories)
            .Select(Relative)
            .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal)));

        files.Sort(StringComparer.Ordinal);
        return files;
    }

    public static MarkdownDocument Load(string relativePath) =>
        MarkdownDocument.Parse(relativePath, File.ReadAllText(Path.Combine(Root, relativePath)));

    private static string Relative(string fullPath) => Path.GetRelativePath(Root, fullPath).Replace('\\', '/');

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MeshLib.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("MeshLib.sln not found above " + AppContext.BaseDirectory);
    }
}
