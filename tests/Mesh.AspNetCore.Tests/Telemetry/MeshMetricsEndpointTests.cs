using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Tests.Telemetry;

/// <summary>
/// <c>/metrics</c> as <c>MapMeshEndpoints()</c> serves it from OpenTelemetry's Prometheus exporter on the app's meter
/// provider: one app's meters only, the documented buckets, and a bounded number of series per metric.
/// </summary>
public sealed class MeshMetricsEndpointTests
{
    private const string AppMeter = "Test.Orders";

    private sealed record App(WebApplication Host, HttpClient Client) : IAsyncDisposable
    {
        public async Task<string> ScrapeAsync()
        {
            using var response = await Client.GetAsync(new Uri("/metrics", UriKind.Relative));
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
            response.Headers.CacheControl!.NoStore.ShouldBeTrue();
            return await response.Content.ReadAsStringAsync();
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Host.DisposeAsync();
        }
    }

    private static async Task<App> StartAsync(string service, int? maxSeries = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mesh:Service:Name"] = service,
            ["Mesh:Telemetry:Meters:0"] = AppMeter,
            ["Mesh:Telemetry:MaxSeriesPerMetric"] = maxSeries?.ToString(CultureInfo.InvariantCulture),
        });
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddMesh();
        var app = builder.Build();
        app.UseMesh();
        app.MapMeshEndpoints();

        // The app's own meter, made as every app makes it: through its container's factory, under a name every app shares.
        var orders = app.Services.GetRequiredService<IMeterFactory>().Create(AppMeter).CreateCounter<long>("test.orders", "{order}");
        app.MapGet("/order/{customer}", (string customer) =>
        {
            orders.Add(1, new KeyValuePair<string, object?>("customer", customer));
            return service;
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new App(app, new HttpClient { BaseAddress = new Uri(address) });
    }

    private static string[] Samples(string text, string metric) =>
        text.Split('\n').Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) || l.StartsWith(metric + " ", StringComparison.Ordinal)).ToArray();

    [Fact]
    public async Task Each_app_in_the_process_exports_only_its_own_meters()
    {
        await using var reviews = await StartAsync("reviews");
        await using var ratings = await StartAsync("ratings");

        (await reviews.Client.GetStringAsync(new Uri("/order/alice", UriKind.Relative))).ShouldBe("reviews");
        (await reviews.Client.GetStringAsync(new Uri("/order/alice", UriKind.Relative))).ShouldBe("reviews");
        (await ratings.Client.GetStringAsync(new Uri("/order/bob", UriKind.Relative))).ShouldBe("ratings");

        var reviewsText = await reviews.ScrapeAsync();
        var ratingsText = await ratings.ScrapeAsync();

        Samples(reviewsText, "test_orders_total").ShouldBe(["test_orders_total{customer=\"alice\"} 2"]);
        Samples(ratingsText, "test_orders_total").ShouldBe(["test_orders_total{customer=\"bob\"} 1"]);
        Samples(reviewsText, "mesh_requests_total").ShouldContain(s => s.Contains("destination_service=\"reviews\"", StringComparison.Ordinal) && s.Contains("route=\"/order/{customer}\"", StringComparison.Ordinal));
        Samples(reviewsText, "mesh_requests_total").ShouldAllBe(s => !s.Contains("destination_service=\"ratings\"", StringComparison.Ordinal));
        Samples(ratingsText, "mesh_requests_total").ShouldAllBe(s => !s.Contains("destination_service=\"reviews\"", StringComparison.Ordinal));
        Samples(ratingsText, "mesh_requests_total").ShouldContain(s => s.Contains("destination_service=\"ratings\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Histograms_keep_the_documented_buckets_and_counters_their_names()
    {
        await using var reviews = await StartAsync("reviews");
        await reviews.Client.GetStringAsync(new Uri("/order/alice", UriKind.Relative));

        var text = await reviews.ScrapeAsync();
        text.ShouldContain("# TYPE mesh_requests_total counter");
        text.ShouldContain("# TYPE mesh_request_duration_seconds histogram");
        string[] durations = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];
        Bounds(text, "mesh_request_duration_seconds_bucket").ShouldBe(durations);
        Samples(text, "mesh_request_duration_seconds_count").Length.ShouldBe(1);
        Samples(text, "mesh_request_duration_seconds_sum").Length.ShouldBe(1);
        string[] sizes = ["64", "256", "1024", "4096", "16384", "65536", "262144", "1048576", "4194304", "16777216", "+Inf"];
        Bounds(text, "mesh_response_bytes_bucket").ShouldBe(sizes);
    }

    private static string[] Bounds(string text, string bucket) =>
        Samples(text, bucket).Select(s => s[(s.IndexOf("le=\"", StringComparison.Ordinal) + 4)..]).Select(s => s[..s.IndexOf('"', StringComparison.Ordinal)]).ToArray();

    [Fact]
    public async Task A_metric_beyond_its_series_cap_folds_into_one_overflow_series()
    {
        // What an attacker could try with a label fed from a request: many values. /metrics stays bounded (the cap,
        // plus one overflow series), and no measurement is lost from the metric's total.
        await using var reviews = await StartAsync("reviews", maxSeries: 3);
        for (var i = 0; i < 10; i++)
        {
            await reviews.Client.GetStringAsync(new Uri("/order/c" + i, UriKind.Relative));
        }

        // The first three label sets keep their series; the other seven measurements share the overflow series.
        var samples = Samples(await reviews.ScrapeAsync(), "test_orders_total");
        samples.Order(StringComparer.Ordinal).ShouldBe([
            "test_orders_total{customer=\"c0\"} 1",
            "test_orders_total{customer=\"c1\"} 1",
            "test_orders_total{customer=\"c2\"} 1",
            "test_orders_total{otel_metric_overflow=\"true\"} 7",
        ]);
    }
}
