using Mesh.Testing;

namespace Mesh.Client.Tests;

public sealed class MeshStatusTests
{
    private static object Mesh(params string[] routes) => new
    {
        Services = new Dictionary<string, object>
        {
            ["ratings"] = new
            {
                Endpoints = new[] { new { Address = "http://127.0.0.1:5001" }, new { Address = "http://127.0.0.1:5002" } },
                Routes = routes.Select(name => new { Name = name, Destinations = new[] { new { Weight = 100 } } }).ToArray(),
            },
        },
    };

    [Fact]
    public async Task Reports_the_services_endpoints_and_routes_the_mesh_routes_by()
    {
        await using var mesh = MeshTestClient.Create(Mesh("canary"));
        var status = mesh.GetService<IMeshStatus>();

        var ratings = status.Services["RATINGS"]; // service names compare ignoring case, as in http://ratings/
        ratings.Name.ShouldBe("ratings");
        ratings.Endpoints.ShouldBe(2);
        ratings.Routes.ShouldBe(["canary"]);
        status.RegistryConnected.ShouldBeFalse();
        status.RegistrySnapshotAge.ShouldBeNull("there is no registry to hear from");
    }

    [Fact]
    public async Task A_reloaded_policy_shows_in_the_next_read()
    {
        await using var mesh = MeshTestClient.Create(Mesh("canary"));
        var status = mesh.GetService<IMeshStatus>();
        var before = status.Services;

        mesh.Reload(Mesh("stable", "canary"));

        await Poll.UntilAsync(() => status.Services["ratings"].Routes.Count == 2, because: "the reload reaches the runtime");
        status.Services["ratings"].Routes.ShouldBe(["stable", "canary"]);
        before["ratings"].Routes.ShouldBe(["canary"], "a read is a copy, not a live view");
    }
}
