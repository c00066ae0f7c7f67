using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>The registry process at start: configuration errors as a list with exit code 1, and where its data goes by default.</summary>
public sealed class RegistryStartupTests
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Bad_settings_end_the_process_with_one_line_per_error_and_exit_code_1_without_a_stack_trace()
    {
        var (exitCode, output, error) = await RegistryProcess.RunCommandAsync(
            ["--MeshRegistry:FailedAuthLimit=-1", "--MeshRegistry:TrustDomain= x", "--urls", "https://127.0.0.1:0"], CommandTimeout);

        exitCode.ShouldBe(1, $"stdout:\n{output}\nstderr:\n{error}");
        error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ShouldBe(
        [
            "error: MeshRegistry:TrustDomain: ' x' must be a DNS name such as mesh.local",
            "error: MeshRegistry:FailedAuthLimit: -1 must be from 0 (no limit) to 1000000",
            "The registry did not start: its configuration has 2 errors.",
        ]);
        (output + error).ShouldNotContain(" at ");
        (output + error).ShouldNotContain("Exception");
    }

    [Fact]
    public async Task Without_a_data_path_the_registry_keeps_its_store_and_ca_in_the_users_data_folder_not_the_current_folder()
    {
        var home = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));
        var dataHome = Path.Combine(home, "data-home");
        var workingDirectory = Path.GetDirectoryName(RegistryProcess.DllPath)!;
        var leftBefore = Directory.Exists(Path.Combine(workingDirectory, "data"));
        try
        {
            await using (var registry = await RegistryProcess.StartAsync(new Dictionary<string, string>
            {
                ["HOME"] = home,
                ["XDG_DATA_HOME"] = dataHome,
            }, https: true))
            {
                var folder = Path.Combine(dataHome, "MeshLib", "registry");
                File.Exists(Path.Combine(folder, "mesh-registry.db")).ShouldBeTrue(registry.Output);
                Directory.GetFiles(Path.Combine(folder, "ca"), "*.key.pem").ShouldNotBeEmpty();
                registry.Output.ShouldContain($"(root certificate: {Path.Combine(folder, "ca")}");
            }

            if (!leftBefore)
            {
                Directory.Exists(Path.Combine(workingDirectory, "data")).ShouldBeFalse();
            }
        }
        finally
        {
            RegistryHost.DeleteDirectory(home);
        }
    }
}
