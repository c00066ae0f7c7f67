namespace Bookinfo.Tests;

/// <summary>
/// A meshed app (here the demo's, each service an <c>AddMesh()</c> host) with a bad <c>Mesh</c> setting: the process
/// prints one line per error with its path and exits with 1, not the host's stack trace and the runtime's abort (134).
/// </summary>
[Collection(BookinfoTests.Name)]
public sealed class ConfigurationErrorTests
{
    private static readonly TimeSpan Hang = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task A_bad_mesh_setting_ends_the_app_with_each_error_and_its_path_and_exit_code_1()
    {
        using var demo = BookinfoProcess.Start(new Dictionary<string, string>
        {
            ["Mesh__Servce__Name"] = "productpage",
            ["Mesh__Telemetry__MaxSeriesPerMetric"] = "-5",
        }, "--scenario");

        (await demo.WaitForExitAsync(Hang)).ShouldBeTrue(demo.Output);
        demo.ExitCode.ShouldBe(1, demo.Output);
        demo.Lines.Where(l => l.StartsWith("stderr: ", StringComparison.Ordinal)).ShouldBe(
        [
            "stderr: error: Mesh:Servce: unknown setting 'Servce'; expected one of Service, Registry, Security, Services, Authorization, RateLimits, Telemetry, Discovery",
            "stderr: error: Mesh:Telemetry:MaxSeriesPerMetric: -5 must be between 1 and 1000000",
            "stderr: The app did not start: its Mesh configuration has 2 errors.",
        ]);
        demo.Output.ShouldNotContain(" at ");
        demo.Output.ShouldNotContain("Exception");
    }
}
