using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// The store keeps only an unsalted hash of a configured token: one shorter than 32 characters is named at start (never
/// shown), so an operator learns it can be guessed.
/// </summary>
public sealed class ShortTokenWarningTests
{
    [Fact]
    public async Task A_short_configured_token_is_named_at_start_and_never_shown()
    {
        const string Short = "shared-secret-xyz";
        var long32 = new string('k', 32);
        await using var host = await RegistryHost.StartAsync(configure: s =>
        {
            s["MeshRegistry:JoinTokens:reviews"] = Short;
            s["MeshRegistry:JoinTokens:ratings"] = long32;
        });

        var warnings = host.Logs.GetSnapshot().Where(r => r.Message.Contains("can be guessed", StringComparison.Ordinal)).Select(r => r.Message).ToList();
        warnings.ShouldContain(m => m.StartsWith("MeshRegistry:JoinTokens:reviews is 17 characters long", StringComparison.Ordinal));
        warnings.ShouldNotContain(m => m.Contains("JoinTokens:ratings", StringComparison.Ordinal));
        host.Logs.AllText().ShouldNotContain(Short);
    }
}
