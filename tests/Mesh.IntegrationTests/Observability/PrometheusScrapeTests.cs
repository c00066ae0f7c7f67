using System.Globalization;
using Mesh.Testing;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests.Observability;

/// <summary>A real Prometheus server scrapes a meshed app and answers the queries the dashboards ask.</summary>
public sealed class PrometheusScrapeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Prometheus_scrapes_the_canary_split_and_a_latency_quantile()
    {
        await using var v1 = await TestBackend.StartAsync("v1");
        await using var v2 = await TestBackend.StartAsync("v2");
        await using var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "productpage",
            ["Mesh:Services:reviews:Endpoints:0:Address"] = v1.Address.ToString(),
            ["Mesh:Services:reviews:Endpoints:0:Labels:version"] = "v1",
            ["Mesh:Services:reviews:Endpoints:1:Address"] = v2.Address.ToString(),
            ["Mesh:Services:reviews:Endpoints:1:Labels:version"] = "v2",
            ["Mesh:Services:reviews:Subsets:v1:version"] = "v1",
            ["Mesh:Services:reviews:Subsets:v2:version"] = "v2",
            ["Mesh:Services:reviews:Routes:0:Name"] = "canary",
            ["Mesh:Services:reviews:Routes:0:Destinations:0:Subset"] = "v1",
            ["Mesh:Services:reviews:Routes:0:Destinations:0:Weight"] = "90",
            ["Mesh:Services:reviews:Routes:0:Destinations:1:Subset"] = "v2",
            ["Mesh:Services:reviews:Routes:0:Destinations:1:Weight"] = "10",
        }, _ => { });
        var client = app.MeshClient();
        for (var i = 0; i < 4000; i++)
        {
            (await client.GetStringAsync(new Uri("http://reviews/r"))).ShouldNotBeEmpty();
        }

        using var prometheus = PrometheusServer.Start(app.Address);

        // Traffic keeps flowing while Prometheus scrapes, so that rate() over the duration buckets has something to see.
        using var stop = new CancellationTokenSource();
        var traffic = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                (await client.GetStringAsync(new Uri("http://reviews/r"), CancellationToken.None)).ShouldNotBeEmpty();
                await Task.Delay(5, CancellationToken.None);
            }
        }, CancellationToken.None);

        try
        {
            const string split = "sum by (destination_version) (mesh_requests_total{destination_service=\"reviews\"})";
            List<(Dictionary<string, string> Labels, string Value)> versions = [];
            await Poll.UntilAsync(async () =>
            {
                prometheus.HasExited.ShouldBeFalse("prometheus exited");
                versions = await prometheus.QueryAsync(split);
                return versions.Count == 2;
            }, TimeSpan.FromSeconds(90), "Prometheus scrapes both versions");

            var counts = versions.ToDictionary(v => v.Labels["destination_version"], v => double.Parse(v.Value, CultureInfo.InvariantCulture));
            var total = counts["v1"] + counts["v2"];
            output.WriteLine($"v1 {counts["v1"]}, v2 {counts["v2"]}");
            total.ShouldBeGreaterThanOrEqualTo(4000);
            (100 * counts["v2"] / total).ShouldBe(10, tolerance: 2);
            (100 * counts["v1"] / total).ShouldBe(90, tolerance: 2);

            const string p99 = "histogram_quantile(0.99, sum by (le) (rate(mesh_request_duration_seconds_bucket{destination_service=\"reviews\"}[1m])))";
            var quantile = double.NaN;
            await Poll.UntilAsync(async () =>
            {
                var result = await prometheus.QueryAsync(p99);
                quantile = result.Count == 1 ? double.Parse(result[0].Value, CultureInfo.InvariantCulture) : double.NaN;
                return double.IsFinite(quantile);
            }, TimeSpan.FromSeconds(90), "the p99 is a number once two scrapes saw traffic");
            output.WriteLine($"p99 {quantile} s");
            quantile.ShouldBeGreaterThan(0);
        }
        finally
        {
            await stop.CancelAsync();
            await traffic;
        }
    }
}
