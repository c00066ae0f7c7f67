using System.Text.RegularExpressions;

namespace Mesh.IntegrationTests.Grpc;

/// <summary>
/// The gRPC recipe of docs/grpc.md is the code of a test (region <c>readme-grpc</c> in GrpcThroughMeshTests.cs), so
/// the documented recipe is the one that is run: this test fails when the two drift apart.
/// </summary>
public sealed partial class ReadmeGrpcExampleTests
{
    [Fact]
    public void The_documented_gRPC_example_is_the_tested_code()
    {
        var root = RepositoryRoot();
        var guide = File.ReadAllText(Path.Combine(root, "docs", "grpc.md"));
        var test = File.ReadAllText(Path.Combine(root, "tests", "Mesh.IntegrationTests", "Grpc", "GrpcThroughMeshTests.cs"));

        var block = GuideBlock().Match(guide);
        block.Success.ShouldBeTrue("docs/grpc.md has a ```csharp block");
        var region = TestRegion().Match(test);
        region.Success.ShouldBeTrue("GrpcThroughMeshTests.cs has a readme-grpc region");

        var documented = Normalize(block.Groups["code"].Value);
        documented.ShouldContain("GrpcChannel.ForAddress(");
        documented.ShouldBe(Normalize(region.Groups["code"].Value));
    }

    private static string Normalize(string code) => string.Join(' ', code.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static string RepositoryRoot()
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

    [GeneratedRegex(@"```csharp\n(?<code>[\s\S]*?)```")]
    private static partial Regex GuideBlock();

    [GeneratedRegex(@"#region readme-grpc\s*\n(?<code>[\s\S]*?)\n\s*#endregion")]
    private static partial Regex TestRegion();
}
