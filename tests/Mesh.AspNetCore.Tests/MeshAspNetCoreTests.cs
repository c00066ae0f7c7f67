using System.Net;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Tests;

public sealed class MeshAspNetCoreTests
{
    private static async Task<(WebApplication App, Uri Address)> StartAppAsync(Dictionary<string, string?> config, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(config);
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddMesh();
        var app = builder.Build();
        app.UseMesh();
        app.MapMeshEndpoints();
        map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new Uri(address));
    }

    [Fact]
    public async Task AddMesh_meshes_every_factory_client_and_the_app_serves_healthz()
    {
        await using var ratings = await TestBackend.StartAsync("ratings");
        var (app, address) = await StartAppAsync(
            new() { ["Mesh:Service:Name"] = "reviews", ["Mesh:Services:ratings:Endpoints:0:Address"] = ratings.Address.ToString() },
            a => a.MapGet("/reviews", async (IHttpClientFactory factory) => await factory.CreateClient("any").GetStringAsync(new Uri("http://ratings/stars"))));
        await using var _ = app;

        using var client = new HttpClient { BaseAddress = address };
        (await client.GetStringAsync(new Uri("/reviews", UriKind.Relative))).ShouldBe("ratings");
        using var health = await client.GetAsync(new Uri("/healthz", UriKind.Relative));
        health.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_named_client_meshed_twice_runs_the_mesh_once()
    {
        await using var ratings = await TestBackend.StartAsync("ratings", async c =>
        {
            // A doubled mesh handler would rewrite an already rewritten URI and count two attempts; one hop is one request.
            await c.Response.WriteAsync(c.Request.Path);
        });
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(
            new Dictionary<string, string?> { ["Mesh:Services:ratings:Endpoints:0:Address"] = ratings.Address.ToString() }).Build());
        services.AddMesh();
        services.AddHttpClient("ratings").AddServiceMesh();
        await using var provider = services.BuildServiceProvider();
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("ratings");
        (await client.GetStringAsync(new Uri("http://ratings/x"))).ShouldBe("/x");
        ratings.Requests.ShouldBe(1);
    }

    [Fact]
    public async Task The_handler_factory_meshes_code_outside_dependency_injection()
    {
        await using var ratings = await TestBackend.StartAsync("ratings");
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(
            new Dictionary<string, string?> { ["Mesh:Services:ratings:Endpoints:0:Address"] = ratings.Address.ToString() }).Build());
        services.AddMeshClient();
        await using var provider = services.BuildServiceProvider();
        var mesh = provider.GetRequiredService<MeshHandlerFactory>();
        using var invoker = new HttpClient(mesh.CreateHandler());
        (await invoker.GetStringAsync(new Uri("http://ratings/"))).ShouldBe("ratings");
    }

    [Fact]
    public async Task A_caller_cannot_stretch_the_deadline_with_a_huge_or_garbage_budget()
    {
        await using var down = await TestBackend.StartAsync("down");
        var (app, address) = await StartAppAsync(
            new() { ["Mesh:Services:down:Endpoints:0:Address"] = down.Address.ToString() },
            a => a.MapGet("/", async (IHttpClientFactory factory) => await factory.CreateClient().GetStringAsync(new Uri("http://down/"))));
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };

        foreach (var budget in new[] { "99999999999999", "-5", "abc", "" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.TryAddWithoutValidation("x-mesh-timeout-ms", budget);
            using var response = await client.SendAsync(request);
            if (budget == "-5")
            {
                // An already spent budget: the outbound call is not even attempted.
                response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
                continue;
            }

            response.StatusCode.ShouldBe(HttpStatusCode.OK, $"budget '{budget}'");
            var seen = down.LastRequestHeaders!["x-mesh-timeout-ms"].ToString();
            if (budget == "99999999999999")
            {
                long.Parse(seen, System.Globalization.CultureInfo.InvariantCulture).ShouldBeLessThanOrEqualTo((long)TimeSpan.FromDays(1).TotalMilliseconds);
            }
            else
            {
                seen.ShouldBeEmpty("garbage is ignored, so no deadline travels on");
            }
        }
    }

    [Theory]
    [InlineData("2S", null, 2000L)]
    [InlineData("1500m", "60000", 1500L)] // both: the smaller
    [InlineData("1M", "1500", 1500L)]
    [InlineData("2s", null, null)] // units are case-sensitive: not a timeout
    [InlineData("100000000m", null, null)] // nine digits: not a timeout
    [InlineData("2s", "1500", 1500L)] // a malformed grpc-timeout leaves the mesh budget alone
    public async Task An_inbound_grpc_timeout_bounds_outbound_calls_like_the_mesh_budget(string grpcTimeout, string? meshBudget, long? atMost)
    {
        await using var down = await TestBackend.StartAsync("down");
        var (app, address) = await StartAppAsync(
            new() { ["Mesh:Services:down:Endpoints:0:Address"] = down.Address.ToString() },
            a => a.MapGet("/", async (IHttpClientFactory factory) => await factory.CreateClient().GetStringAsync(new Uri("http://down/"))));
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.TryAddWithoutValidation("grpc-timeout", grpcTimeout);
        if (meshBudget is not null)
        {
            request.Headers.TryAddWithoutValidation("x-mesh-timeout-ms", meshBudget);
        }

        using var response = await client.SendAsync(request);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var seen = down.LastRequestHeaders!["x-mesh-timeout-ms"].ToString();
        if (atMost is { } limit)
        {
            long.Parse(seen, System.Globalization.CultureInfo.InvariantCulture).ShouldBeLessThanOrEqualTo(limit);
        }
        else
        {
            seen.ShouldBeEmpty("a malformed grpc-timeout is ignored, as gRPC servers ignore it");
        }
    }

    [Fact]
    public async Task Bad_configuration_fails_the_web_host_at_start()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mesh:Services:reviews:LoadBalancer:Policy"] = "Fastest",
            ["Mesh:Services:reviews:Routes:0:Timeout"] = "-00:00:01",
        });
        builder.Services.AddMesh();
        await using var app = builder.Build();
        var ex = await Should.ThrowAsync<OptionsValidationException>(() => app.StartAsync());
        ex.Message.ShouldContain("Mesh:Services:reviews:LoadBalancer:Policy");
        ex.Message.ShouldContain("Mesh:Services:reviews:Routes:0:Timeout");
    }
}
