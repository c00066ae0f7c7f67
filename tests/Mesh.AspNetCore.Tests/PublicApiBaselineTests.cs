namespace Mesh.AspNetCore.Tests;

/// <summary>
/// The shipped packages' public surface is pinned by PublicApiAnalyzers (src/*/PublicAPI.*.txt): the build fails when
/// the code and the baseline differ. What the analyzer cannot say is that Polly stays an implementation detail, so this
/// checks the baselines, which the analyzer keeps equal to the real surface.
/// </summary>
public sealed class PublicApiBaselineTests
{
    [Fact]
    public void No_polly_type_appears_in_the_public_api()
    {
        var files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "PublicApi"), "PublicAPI.*.txt", SearchOption.AllDirectories);

        // Both packages, shipped and unshipped: a missing file would make the check pass vacuously.
        files.Length.ShouldBe(4);
        foreach (var file in files)
        {
            File.ReadAllText(file).ShouldNotContain("Polly", Case.Insensitive, customMessage: file);
        }
    }
}
