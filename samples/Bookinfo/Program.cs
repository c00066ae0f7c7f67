// Bookinfo, small edition: real Kestrel servers on loopback, a meshed client, and a tour of what the mesh does.
// productpage calls reviews (v1 ×2, v2) through http://reviews; reviews calls ratings through http://ratings.
// Each step rewrites productpage's appsettings.json and reloads it, as an operator editing policy would.
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

var requests = args.Length > 1 && args[0] == "--requests" ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1000;
var stopwatch = Stopwatch.StartNew();
await using var servers = new ServerSet();

// ratings: fails only when the tour injects a fault in front of it.
var ratings = await servers.StartAsync("ratings", null, app => app.MapGet("/ratings/{id}", (int id) => Results.Ok(new { id, stars = 4 })));

// reviews v1 (two instances) and v2; v2 also asks ratings, through the mesh.
var ratingsMesh = new Dictionary<string, string?>
{
    ["Mesh:Service:Name"] = "reviews",
    ["Mesh:Services:ratings:Endpoints:0:Address"] = ratings.ToString(),
};
var reviewsV1a = await servers.StartAsync("reviews-v1", ratingsMesh, app => app.MapGet("/reviews/{id}", (int id) => Results.Ok(new { id, version = "v1" })));
var reviewsV1b = await servers.StartAsync("reviews-v1", ratingsMesh, app => app.MapGet("/reviews/{id}", (int id) => Results.Ok(new { id, version = "v1" })));
var failingV1 = new FailSwitch();
var reviewsV1c = await servers.StartAsync("reviews-v1", ratingsMesh, app => app.MapGet("/reviews/{id}", (int id) =>
    failingV1.Failing ? Results.StatusCode(503) : Results.Ok(new { id, version = "v1" })));
var reviewsV2 = await servers.StartAsync("reviews-v2", ratingsMesh, app => app.MapGet("/reviews/{id}", async (int id, IHttpClientFactory factory) =>
{
    using var response = await factory.CreateClient().GetAsync(new Uri($"http://ratings/ratings/{id}"));
    return response.IsSuccessStatusCode ? Results.Ok(new { id, version = "v2" }) : Results.StatusCode((int)response.StatusCode);
}));

// productpage: a meshed client whose policy lives in its own appsettings.json.
var policyDirectory = Directory.CreateTempSubdirectory("bookinfo-").FullName;
var policyFile = Path.Combine(policyDirectory, "appsettings.json");
var endpoints = new object[]
{
    new { Address = reviewsV1a, Labels = new { version = "v1" } },
    new { Address = reviewsV1b, Labels = new { version = "v1" } },
    new { Address = reviewsV1c, Labels = new { version = "v1" } },
    new { Address = reviewsV2, Labels = new { version = "v2" } },
};
void WritePolicy(object reviewsRoutes, object? ratingsRoutes = null) => File.WriteAllText(policyFile, JsonSerializer.Serialize(new
{
    Mesh = new
    {
        Service = new { Name = "productpage", Version = "v1" },
        Services = new Dictionary<string, object>
        {
            ["reviews"] = new
            {
                Endpoints = endpoints,
                Subsets = new { v1 = new { version = "v1" }, v2 = new { version = "v2" } },
                LoadBalancer = new { Policy = "RoundRobin" },
                Routes = reviewsRoutes,
                OutlierDetection = new { Consecutive5xxErrors = 3, BaseEjectionTime = "00:00:30", MaxEjectionPercent = 50 },
            },
        },
    },
}));

WritePolicy(new object[] { new { Name = "all-v1", Destinations = new object[] { new { Subset = "v1", Weight = 100 } } } });
var productpage = WebApplication.CreateSlimBuilder();
productpage.Logging.ClearProviders();
productpage.Configuration.AddJsonFile(policyFile, optional: false, reloadOnChange: false);
productpage.Services.AddMesh();
await using var productpageApp = productpage.Build();
var configuration = (IConfigurationRoot)productpageApp.Services.GetRequiredService<IConfiguration>();
var client = productpageApp.Services.GetRequiredService<IHttpClientFactory>().CreateClient("productpage");

Console.WriteLine("MeshLib Bookinfo (small edition): productpage -> reviews (v1 x3, v2) -> ratings, all on 127.0.0.1");
Console.WriteLine();

await Step("1. All traffic to v1", null);

await Step("2. Canary: 90% v1, 10% v2", () => WritePolicy(new object[]
{
    new { Name = "canary", Destinations = new object[] { new { Subset = "v1", Weight = 90 }, new { Subset = "v2", Weight = 10 } } },
}));

await Step("3. end-user: jason goes to v2, everyone else stays on the canary", () => WritePolicy(new object[]
{
    new { Name = "jason", Match = new { Headers = new Dictionary<string, string> { ["end-user"] = "jason" } }, Destinations = new object[] { new { Subset = "v2", Weight = 100 } } },
    new { Name = "canary", Destinations = new object[] { new { Subset = "v1", Weight = 90 }, new { Subset = "v2", Weight = 10 } } },
}), headers: ("end-user", "jason"));

await Step("4. A 50% abort fault on v1, no retries: callers see it", () => WritePolicy(new object[]
{
    new { Name = "faulty", Destinations = new object[] { new { Subset = "v1", Weight = 100 } }, Retry = new { Attempts = 0 },
          Fault = new { Abort = new { Percentage = 50, HttpStatus = 503 } } },
}));

await Step("5. Same fault, 3 retries on 503: retries meet the fault too, and still win", () => WritePolicy(new object[]
{
    new { Name = "faulty", Destinations = new object[] { new { Subset = "v1", Weight = 100 } },
          Retry = new { Attempts = 3, RetryOn = new[] { "503" }, BaseDelay = "00:00:00.001", MaxDelay = "00:00:00.005" },
          Fault = new { Abort = new { Percentage = 50, HttpStatus = 503 } } },
}));

await Step("6. One v1 instance starts failing: it is ejected after 3 errors, retries cover the gap", () =>
{
    failingV1.Failing = true;
    WritePolicy(new object[]
    {
        new { Name = "all-v1", Destinations = new object[] { new { Subset = "v1", Weight = 100 } }, Retry = new { Attempts = 2, RetryOn = new[] { "5xx" } } },
    });
});

Console.WriteLine($"Done in {stopwatch.Elapsed.TotalSeconds:F1} s.");
Directory.Delete(policyDirectory, recursive: true);
return 0;

async Task Step(string title, Action? change, (string Name, string Value)? headers = null)
{
    if (change is not null)
    {
        change();
        configuration.Reload();
    }

    var byBackend = new Dictionary<string, int>();
    var ok = 0;
    var counts = new Dictionary<string, int>();
    for (var i = 0; i < requests; i++)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://reviews/reviews/{i}");
        if (headers is { } h && i % 2 == 0)
        {
            request.Headers.Add(h.Name, h.Value);
        }

        try
        {
            using var response = await client.SendAsync(request);
            var who = response.Headers.TryGetValues("x-backend", out var v) ? v.First() : response.Headers.Contains("x-mesh-fault") ? "(injected fault)" : "?";
            var key = $"{(int)response.StatusCode} {who}{(headers is not null && i % 2 == 0 ? " [jason]" : string.Empty)}";
            counts[key] = counts.GetValueOrDefault(key) + 1;
            if (response.IsSuccessStatusCode)
            {
                ok++;
            }
        }
        catch (HttpRequestException ex)
        {
            var key = "error " + ex.HttpRequestError;
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
    }

    Console.WriteLine(title);
    foreach (var (key, count) in counts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
    {
        Console.WriteLine($"   {key,-32} {count,6}  {100.0 * count / requests,5:F1}%");
    }

    Console.WriteLine($"   success {100.0 * ok / requests:F1}% of {requests}");
    Console.WriteLine();
}

/// <summary>Starts Kestrel apps on free loopback ports and stops them all on dispose.</summary>
internal sealed class ServerSet : IAsyncDisposable
{
    private readonly List<WebApplication> _apps = [];

    public async Task<Uri> StartAsync(string name, Dictionary<string, string?>? mesh, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        if (mesh is not null)
        {
            builder.Configuration.AddInMemoryCollection(mesh);
            builder.Services.AddMesh();
        }

        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            context.Response.Headers["x-backend"] = $"{name}@{context.Connection.LocalPort}";
            await next(context);
        });
        if (mesh is not null)
        {
            app.UseMesh();
        }

        map(app);
        await app.StartAsync();
        _apps.Add(app);
        return new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}

internal sealed class FailSwitch
{
    public volatile bool Failing;
}
