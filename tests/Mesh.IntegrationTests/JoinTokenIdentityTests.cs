using System.Net;
using System.Text.Json;
using Mesh.Client.Security;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests;

/// <summary>A workload joining with a token the admin made for one version: its certificate, and what its peers see.</summary>
[Collection(nameof(ControlPlaneTests))]
public sealed class JoinTokenIdentityTests
{
    [Fact]
    public async Task A_version_bound_token_gives_its_workload_that_version_which_the_destination_reports_and_refuses_any_other()
    {
        await using var registry = await RegistryHost.StartAsync(services: ["ratings"]);
        var admin = registry.Admin;
        var token = await MakeTokenAsync(admin, """{ "service": "reviews", "version": "v2", "uses": 1, "ttl": "01:00:00" }""");

        await using var ratings = await registry.StartAppAsync("ratings", null, app => app.MapGet("/", (Microsoft.AspNetCore.Http.HttpContext context) =>
            context.User.FindFirst(Mesh.AspNetCore.Security.MeshClaims.Version)?.Value ?? "-"));

        await using var reviews = MeshTestClient.Create(new
        {
            Service = new { Name = "reviews", Version = "v2" },
            Registry = new { Url = registry.Address, Token = token, Register = false, CacheDirectory = string.Empty },
        });
        var identity = reviews.GetService<MeshSecurity>().Identity!;
        await Poll.UntilAsync(() => identity.Current is not null, because: "reviews gets its certificate with the made token");
        WorkloadVersion.Of(identity.Current!.Certificate).ShouldBe("v2");
        await Poll.UntilAsync(() => reviews.GetService<Mesh.Client.Runtime.MeshRuntime>().Model.Services.TryGetValue("ratings", out var s) &&
            s.Endpoints.Length == 1, because: "reviews discovers ratings");
        (await reviews.Client.GetStringAsync(new Uri("http://ratings/"))).ShouldBe("v2");

        var address = ratings.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var scraper = new HttpClient();
        var metrics = await scraper.GetStringAsync(new Uri(new Uri(address), "/metrics"));
        metrics.Split('\n').ShouldContain(l => l.StartsWith("mesh_requests_total{", StringComparison.Ordinal) &&
            l.Contains("reporter=\"destination\"", StringComparison.Ordinal) && l.Contains("connection_security=\"mutual_tls\"", StringComparison.Ordinal) &&
            l.Contains("source_service=\"reviews\"", StringComparison.Ordinal) && l.Contains("source_version=\"v2\"", StringComparison.Ordinal));

        // The same kind of token, held by a workload that says it runs v3: the CA refuses, so it has no mesh identity.
        var other = await MakeTokenAsync(admin, """{ "service": "reviews", "version": "v2" }""");
        await using var liar = MeshTestClient.Create(new
        {
            Service = new { Name = "reviews", Version = "v3" },
            Registry = new { Url = registry.Address, Token = other, Register = false, CacheDirectory = string.Empty },
        });
        _ = liar.GetService<MeshSecurity>();
        await Poll.UntilAsync(() => liar.Logs.GetSnapshot().Any(e => e.Message.Contains("403", StringComparison.Ordinal) && e.Message.Contains("'v2'", StringComparison.Ordinal)),
            because: "the CA refuses the other version");
        liar.GetService<MeshSecurity>().Identity!.Current.ShouldBeNull();
    }

    private static async Task<string> MakeTokenAsync(HttpClient admin, string json)
    {
        using var response = await admin.PostAsync(new Uri("/v1/join-tokens", UriKind.Relative),
            new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.Created, body);
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("token").GetString()!;
    }
}
