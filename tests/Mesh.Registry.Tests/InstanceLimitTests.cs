using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary><c>MeshRegistry:MaxInstancesPerService</c>, the most instances one service may have.</summary>
public sealed class InstanceLimitTests
{
    private const string Option = "MeshRegistry:MaxInstancesPerService";

    [Theory]
    [InlineData("0")]
    [InlineData("1000001")]
    public async Task A_limit_outside_1_to_1000000_fails_the_start_with_its_path(string value)
    {
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?> { [Option] = value });
        errors.ShouldContain($"{Option}: {value} must be from 1 to 1000000");
    }
}
