using System.Diagnostics.Metrics;
using System.Net;
using Mesh.IntegrationTests.Observability;
using Mesh.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.IntegrationTests;

/// <summary>
/// Locality-aware balancing against real backends in three zones, two each, configured as <c>Mesh:Services</c>
/// endpoints with a <c>Zone</c>; the caller is in zone-a. Time is manual, so an ejection lasts until the test ends.
/// </summary>
public sealed class LocalityTests : IAsyncDisposable
{
    private readonly List<TestBackend> _backends = [];
    private volatile bool _zoneAFails;

    private async Task<TestBackend> StartAsync(string name, bool inZoneA)
    {
        var backend = await TestBackend.StartAsync(name, async context =>
        {
            if (inZoneA && _zoneAFails)
            {
                context.Response.StatusCode = 503;
                return;
            }

            await context.Response.WriteAsync(name);
        });
        _backends.Add(backend);
        return backend;
    }

    private static object Mesh(string? callerZone, string service, IReadOnlyList<TestBackend> backends) => new
    {
        Service = new { Name = "frontend", Zone = callerZone },
        Services = new Dictionary<string, object>
        {
            [service] = new
            {
                Endpoints = backends.Select(b => new { Address = b.Address, Zone = "zone-" + b.Name[0] }).ToArray(),
                LoadBalancer = new { Policy = "RoundRobin", Locality = new { Failover = new[] { "zone-b", "zone-c" } } },
                Routes = new object[] { new { Name = "default", Retry = new { Attempts = 0 } } },
                OutlierDetection = new { Consecutive5xxErrors = 2, MaxEjectionPercent = 100, BaseEjectionTime = "00:00:30" },
                CircuitBreaker = new { Enabled = false },
            },
        },
    };

    private async Task<TestBackend[]> StartZonesAsync() =>
    [
        await StartAsync("a1", inZoneA: true), await StartAsync("a2", inZoneA: true),
        await StartAsync("b1", inZoneA: false), await StartAsync("b2", inZoneA: false),
        await StartAsync("c1", inZoneA: false), await StartAsync("c2", inZoneA: false),
    ];

    private static async Task<Dictionary<string, int>> CallAsync(MeshTestClient mesh, string service, int count)
    {
        var answers = new Dictionary<string, int>();
        for (var i = 0; i < count; i++)
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items"));
            var answer = response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync() : ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            answers[answer] = answers.GetValueOrDefault(answer) + 1;
        }

        return answers;
    }

    [Fact]
    public async Task Calls_stay_in_the_callers_zone_and_spill_to_the_next_failover_zone_once_its_endpoints_are_ejected()
    {
        const string service = "loc-failover";
        var backends = await StartZonesAsync();
        var time = new ManualTimeProvider();
        await using var mesh = MeshTestClient.Create(Mesh("zone-a", service, backends), time);
        using var crossZone = new MetricCollector<long>(mesh.GetService<IMeterFactory>(), "Mesh.Client", "mesh.cross_zone.requests");
        using var ejections = new MetricCollector<long>(mesh.GetService<IMeterFactory>(), "Mesh.Client", "mesh.outlier.ejections");
        long CrossZone(string zone) => crossZone.Sum(t => t.GetValueOrDefault("destination_service") == service &&
            t.GetValueOrDefault("source_zone") == "zone-a" && t.GetValueOrDefault("destination_zone") == zone);

        // Everything healthy: every call is served in zone-a, round robin over its two endpoints.
        var healthy = await CallAsync(mesh, service, 40);
        healthy.ShouldBe(new Dictionary<string, int> { ["a1"] = 20, ["a2"] = 20 }, ignoreOrder: true);
        crossZone.Sum().ShouldBe(0);

        // zone-a starts answering 503 until outlier detection has ejected both its endpoints.
        _zoneAFails = true;
        for (var i = 0; i < 100 && ejections.Count(t => t.GetValueOrDefault("destination_service") == service) < 2; i++)
        {
            await CallAsync(mesh, service, 1);
        }

        ejections.Count(t => t.GetValueOrDefault("destination_service") == service).ShouldBe(2);
        var zoneARequests = backends[0].Requests + backends[1].Requests;

        // Spilled over: zone-b serves everything, zone-c (the second failover zone) nothing while zone-b is healthy.
        var spilled = await CallAsync(mesh, service, 60);
        spilled.ShouldBe(new Dictionary<string, int> { ["b1"] = 30, ["b2"] = 30 }, ignoreOrder: true);
        (backends[0].Requests + backends[1].Requests).ShouldBe(zoneARequests);
        (backends[4].Requests + backends[5].Requests).ShouldBe(0);

        // Every call zone-b served was a cross-zone request, counted by zone.
        CrossZone("zone-b").ShouldBe(backends[2].Requests + backends[3].Requests);
        CrossZone("zone-b").ShouldBeGreaterThanOrEqualTo(60);
        CrossZone("zone-c").ShouldBe(0);
    }

    [Fact]
    public async Task A_caller_without_a_zone_balances_over_every_zone_as_before()
    {
        const string service = "loc-nozone";
        var backends = await StartZonesAsync();
        await using var mesh = MeshTestClient.Create(Mesh(callerZone: null, service, backends), new ManualTimeProvider());
        using var crossZone = new MetricCollector<long>(mesh.GetService<IMeterFactory>(), "Mesh.Client", "mesh.cross_zone.requests");

        var answers = await CallAsync(mesh, service, 60);

        answers.ShouldBe(backends.ToDictionary(b => b.Name, _ => 10), ignoreOrder: true);
        crossZone.Sum().ShouldBe(0);
    }

    [Fact]
    public async Task Cross_zone_requests_are_exported_on_metrics_and_pass_promtool()
    {
        var remote = await StartAsync("b1", inZoneA: false);
        await using var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "frontend",
            ["Mesh:Service:Zone"] = "zone-a",
            ["Mesh:Services:loc-scrape:Endpoints:0:Address"] = remote.Address.ToString(),
            ["Mesh:Services:loc-scrape:Endpoints:0:Zone"] = "zone-b",
        }, _ => { });
        var client = app.MeshClient();
        for (var i = 0; i < 5; i++)
        {
            (await client.GetStringAsync(new Uri("http://loc-scrape/items"))).ShouldBe("b1");
        }

        var text = await app.ScrapeAsync();
        var (exitCode, lint) = await Promtool.CheckMetricsAsync(text);
        exitCode.ShouldBe(0, lint);
        lint.Trim().ShouldBeEmpty();
        ObservabilityTests.Value(text, "mesh_cross_zone_requests_total{destination_service=\"loc-scrape\",destination_zone=\"zone-b\",source_zone=\"zone-a\"}")
            .ShouldBe(5);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }
    }
}
