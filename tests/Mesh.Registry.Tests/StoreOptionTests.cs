using System.Net;
using Mesh.Registry.Store.Sqlite;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary><c>MeshRegistry:Store</c> picks where the registry keeps its state.</summary>
public sealed class StoreOptionTests
{
    [Fact]
    public async Task Sqlite_is_the_default_store()
    {
        // Without the setting, whichever store the other registry tests run on.
        await using var host = await RegistryHost.StartAsync(configure: s => s.Remove("MeshRegistry:Store"));
        host.Store.ShouldBeOfType<SqliteRegistryStore>();
    }

    [Fact]
    public async Task Sqlite_named_in_any_case_is_the_embedded_store_and_keeps_its_state()
    {
        await using var host = await RegistryHost.StartAsync(configure: s => s["MeshRegistry:Store"] = "sqlite");
        host.Store.ShouldBeOfType<SqliteRegistryStore>();
        (await host.Admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001")).StatusCode.ShouldBe(HttpStatusCode.Created);
        await host.RestartAsync();
        (await host.Admin.InstanceIdsAsync("reviews")).ShouldBe(["r1"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Memory")]
    public async Task A_store_this_registry_does_not_have_fails_the_start_naming_the_ones_it_has(string store)
    {
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:Store"] = store,
            ["MeshRegistry:MassExpiryThreshold"] = "2",
        });
        errors.ShouldContain($"MeshRegistry:Store: '{store}' is not a store this registry has; use one of: Sqlite, Etcd");

        // Every error is reported, not only the first.
        errors.ShouldContain("MeshRegistry:MassExpiryThreshold");
    }
}
