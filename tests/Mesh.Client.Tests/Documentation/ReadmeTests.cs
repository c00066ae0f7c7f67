using System.Text.RegularExpressions;

namespace Mesh.Client.Tests.Documentation;

/// <summary>The README's promises to a newcomer: the first two commands, and installs that name real packages.</summary>
public sealed partial class ReadmeTests
{
    [Fact]
    public void The_first_commands_are_the_demo_and_the_tests()
    {
        var readme = RepositoryDocuments.Load("README.md");

        var commands = readme.CodeBlocks[0].Code.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('#')[0].Trim())
            .ToList();

        commands.Take(2).ShouldBe(["dotnet run --project samples/Bookinfo", "./test.sh"]);
    }

    [Fact]
    public void Every_package_and_tool_the_docs_install_is_a_project_of_the_repository()
    {
        var installs = new List<string>();
        foreach (var path in RepositoryDocuments.All())
        {
            foreach (var block in RepositoryDocuments.Load(path).CodeBlocks)
            {
                installs.AddRange(Install().Matches(block.Code).Select(m => $"{path}:{block.Line}: {m.Groups["id"].Value}"));
            }
        }

        installs.ShouldContain(i => i.EndsWith(": Mesh.Client", StringComparison.Ordinal));
        installs.ShouldContain(i => i.EndsWith(": Mesh.AspNetCore", StringComparison.Ordinal));
        installs.ShouldContain(i => i.EndsWith(": Mesh.Registry", StringComparison.Ordinal));
        installs.Where(i => !File.Exists(ProjectOf(i[(i.LastIndexOf(' ') + 1)..]))).ShouldBeEmpty();
    }

    private static string ProjectOf(string id) => Path.Combine(RepositoryDocuments.Root, "src", id, id + ".csproj");

    [GeneratedRegex(@"dotnet (?:add package|tool install --global) (?<id>[A-Za-z0-9.]+)")]
    private static partial Regex Install();
}
