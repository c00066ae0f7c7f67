using System.Diagnostics;
using System.Net;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Mesh.IntegrationTests.Observability;

/// <summary>
/// An app that sets up OpenTelemetry itself adds the mesh with <c>AddMeshInstrumentation()</c> and keeps one tracer
/// and one meter provider, whether or not the mesh exports over OTLP as well.
/// </summary>
[Collection(TracesRunAlone.Name)]
public sealed class OpenTelemetryTests
{
    [Fact]
    public async Task An_app_with_its_own_tracing_gets_the_mesh_client_spans_from_its_one_provider()
    {
        var exported = new ExportedItems<Activity>();
        var (service, backend, app, services) = await StartAsync([], s => s.AddOpenTelemetry()
            .WithTracing(t => t.AddMeshInstrumentation().AddInMemoryExporter(exported)));
        await using (backend)
        await using (app)
        {
            await CallAsync(app, 3);

            services.Count(d => d.ServiceType == typeof(TracerProvider)).ShouldBe(1);
            app.Services.GetServices<TracerProvider>().Count().ShouldBe(1);
            app.Services.GetRequiredService<Mesh.AspNetCore.Telemetry.MeshOpenTelemetry>().IsExporting.ShouldBeFalse();
            app.Services.GetRequiredService<TracerProvider>().ForceFlush().ShouldBeTrue();
            var calls = Calls(exported, service);
            calls.Count.ShouldBe(3);
            calls.ShouldAllBe(c => c.DisplayName == "GET " + service && c.GetTagItem("server.address") as string == service);
            calls.ShouldAllBe(c => c.GetTagItem("network.peer.address") as string == "127.0.0.1");
            Snapshot(exported).ShouldNotContain(a => a.Source.Name == "Mesh.Client" && calls.Any(c => c.SpanId == a.ParentSpanId),
                "one span per call, none per single attempt");
        }
    }

    [Fact]
    public async Task An_app_with_its_own_metrics_gets_the_mesh_and_configured_meters_from_its_one_provider()
    {
        var exported = new ExportedItems<MetricSnapshot>();
        var appMeter = "Test.OpenTelemetry." + Guid.NewGuid().ToString("N");
        var (service, backend, app, services) = await StartAsync(new() { ["Mesh:Telemetry:Meters:0"] = appMeter },
            s => s.AddOpenTelemetry().WithMetrics(m => m.AddMeshInstrumentation().AddInMemoryExporter(exported)));
        await using (backend)
        await using (app)
        {
            await CallAsync(app, 3);
            using var meter = new System.Diagnostics.Metrics.Meter(appMeter);
            meter.CreateCounter<long>("app.orders").Add(2);

            services.Count(d => d.ServiceType == typeof(MeterProvider)).ShouldBe(1);
            app.Services.GetServices<MeterProvider>().Count().ShouldBe(1);
            // Every reader collects; the flush as a whole reports false, since the Prometheus reader behind /metrics on
            // the same provider exports only while a scrape asks.
            app.Services.GetRequiredService<MeterProvider>().ForceFlush();
            var metrics = exported.Snapshot();

            var requests = metrics.Where(m => m.Name == "mesh.requests").SelectMany(m => m.MetricPoints)
                .Where(p => HasTag(p, "destination_service", service) && HasTag(p, "reporter", "source"))
                .Sum(p => p.GetSumLong());
            requests.ShouldBe(3);
            metrics.ShouldContain(m => m.Name == "mesh.request.duration");
            metrics.Where(m => m.Name == "app.orders" && m.MeterName == appMeter).SelectMany(m => m.MetricPoints).Sum(p => p.GetSumLong()).ShouldBe(2);
        }
    }

    [Theory]
    [InlineData("grpc")]
    [InlineData("http/protobuf")]
    public async Task Otlp_export_joins_the_app_s_own_providers_instead_of_building_more(string protocol)
    {
        var spans = new ExportedItems<Activity>();
        var metrics = new ExportedItems<MetricSnapshot>();
        var (service, backend, app, services) = await StartAsync(new()
        {
            ["Mesh:Telemetry:Otlp:Endpoint"] = TestBackend.ClosedPortAddress().ToString(),
            ["Mesh:Telemetry:Otlp:Protocol"] = protocol,
            ["Mesh:Telemetry:Otlp:MetricsInterval"] = "00:00:00.2",
            ["Mesh:Telemetry:Otlp:Timeout"] = "00:00:00.5",
        }, s => s.AddOpenTelemetry()
            .WithTracing(t => t.AddMeshInstrumentation().AddInMemoryExporter(spans))
            .WithMetrics(m => m.AddMeshInstrumentation().AddInMemoryExporter(metrics)));
        await using (backend)
        await using (app)
        {
            app.Services.GetRequiredService<Mesh.AspNetCore.Telemetry.MeshOpenTelemetry>().IsExporting.ShouldBeTrue();
            await CallAsync(app, 5);

            services.Count(d => d.ServiceType == typeof(TracerProvider)).ShouldBe(1);
            services.Count(d => d.ServiceType == typeof(MeterProvider)).ShouldBe(1);
            app.Services.GetServices<TracerProvider>().Count().ShouldBe(1);
            app.Services.GetServices<MeterProvider>().Count().ShouldBe(1);

            // The app's exporter and the mesh's OTLP exporter hang off the same provider: each span is made once.
            Calls(spans, service).Count.ShouldBe(5);
            backend.Requests.ShouldBe(5);
        }
    }

    [Fact]
    public async Task Otlp_over_http_protobuf_reaches_a_receiver_from_the_shared_providers()
    {
        // A stand-in collector: it keeps each OTLP body by path (protobuf keeps strings as UTF-8, so names show).
        var received = new System.Collections.Concurrent.ConcurrentQueue<(string Path, string Body)>();
        await using var collector = await TestBackend.StartAsync("collector", async c =>
        {
            using var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body);
            received.Enqueue((c.Request.Path.Value ?? string.Empty, System.Text.Encoding.UTF8.GetString(body.ToArray())));
            c.Response.ContentType = "application/x-protobuf";
        });
        var spans = new ExportedItems<Activity>();
        var (service, backend, app, services) = await StartAsync(new()
        {
            ["Mesh:Telemetry:Otlp:Endpoint"] = collector.Address.ToString(),
            ["Mesh:Telemetry:Otlp:Protocol"] = "http/protobuf",
            ["Mesh:Telemetry:Otlp:MetricsInterval"] = "00:00:00.2",
        }, s => s.AddOpenTelemetry().WithTracing(t => t.AddMeshInstrumentation().AddInMemoryExporter(spans)));
        await using (backend)
        await using (app)
        {
            await CallAsync(app, 2);
            app.Services.GetRequiredService<TracerProvider>().ForceFlush().ShouldBeTrue();

            services.Count(d => d.ServiceType == typeof(TracerProvider)).ShouldBe(1);
            Calls(spans, service).Count.ShouldBe(2);
            await Poll.UntilAsync(() => received.Any(r => r.Path == "/v1/traces" && r.Body.Contains(service, StringComparison.Ordinal)), because: "spans over OTLP");
            await Poll.UntilAsync(() => received.Any(r => r.Path == "/v1/metrics" && r.Body.Contains("mesh.requests", StringComparison.Ordinal)), because: "metrics over OTLP");
            received.First(r => r.Path == "/v1/traces").Body.ShouldContain("frontend"); // the resource's service.name
        }
    }

    private static async Task<(string Service, TestBackend Backend, MeshApp App, IServiceCollection Services)> StartAsync(
        Dictionary<string, string?> config, Action<IServiceCollection> services)
    {
        // A service name of this test's own: activity sources and meters are process-wide.
        var service = "otel" + Guid.NewGuid().ToString("N")[..8];
        var backend = await TestBackend.StartAsync(service);
        config["Mesh:Service:Name"] = "frontend";
        config[$"Mesh:Services:{service}:Endpoints:0:Address"] = backend.Address.ToString();
        IServiceCollection? collection = null;
        var app = await MeshApp.StartAsync(config,
            a => a.MapGet("/p", async (IHttpClientFactory factory) => await factory.CreateClient("mesh").GetStringAsync(new Uri($"http://{service}/"))),
            s =>
            {
                services(s);
                collection = s;
            });
        return (service, backend, app, collection!);
    }

    private static async Task CallAsync(MeshApp app, int times)
    {
        for (var i = 0; i < times; i++)
        {
            using var response = await app.Client.GetAsync(new Uri("/p", UriKind.Relative));
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
    }

    private static List<Activity> Snapshot(ExportedItems<Activity> exported) => exported.Snapshot();

    /// <summary>The mesh's client spans (one per logical call) towards this test's service.</summary>
    private static List<Activity> Calls(ExportedItems<Activity> exported, string service) =>
        Snapshot(exported).Where(a => a.Source.Name == "Mesh.Client" && a.Kind == ActivityKind.Client && a.OperationName == service).ToList();

    private static bool HasTag(MetricPoint point, string key, string value)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == key && Equals(tag.Value, value))
            {
                return true;
            }
        }

        return false;
    }
}
