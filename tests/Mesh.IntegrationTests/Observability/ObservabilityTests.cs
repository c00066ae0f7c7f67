using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using Mesh.AspNetCore.Security;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests.Observability;

/// <summary>/metrics after real traffic, checked by Prometheus' own linter.</summary>
public sealed class ObservabilityTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Metrics_after_traffic_with_errors_retries_and_faults_pass_promtool()
    {
        var flakyCount = 0;
        await using var good = await TestBackend.StartAsync("good");
        await using var flaky = await TestBackend.StartAsync("flaky", async c =>
        {
            // Every other request fails: errors for the metrics, and retries for the mesh.
            c.Response.StatusCode = Interlocked.Increment(ref flakyCount) % 2 == 0 ? 503 : 200;
            await c.Response.WriteAsync("flaky");
        });
        var testMeter = "Test.Observability." + Guid.NewGuid().ToString("N");
        await using var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "frontend",
            ["Mesh:Service:Version"] = "v1",
            ["Mesh:Telemetry:Meters:0"] = testMeter,
            ["Mesh:Services:reviews:Endpoints:0:Address"] = good.Address.ToString(),
            ["Mesh:Services:reviews:Endpoints:0:Labels:version"] = "v1",
            ["Mesh:Services:reviews:Endpoints:1:Address"] = flaky.Address.ToString(),
            ["Mesh:Services:reviews:Endpoints:1:Labels:version"] = "v2",
            ["Mesh:Services:reviews:LoadBalancer:Policy"] = "RoundRobin",
            ["Mesh:Services:reviews:Routes:0:Name"] = "default",
            ["Mesh:Services:reviews:Routes:0:Retry:Attempts"] = "2",
            ["Mesh:Services:reviews:Routes:0:Retry:RetryOn:0"] = "5xx",
            ["Mesh:Services:reviews:Routes:0:Retry:BaseDelay"] = "00:00:00.001",
            ["Mesh:Services:reviews:Routes:0:Fault:Abort:Percentage"] = "10",
            ["Mesh:Services:reviews:Routes:0:Fault:Abort:HttpStatus"] = "500",
            ["Mesh:Services:ratings:Endpoints:0:Address"] = TestBackend.ClosedPortAddress().ToString(),
            ["Mesh:Services:ratings:Routes:0:Name"] = "default",
            ["Mesh:Services:ratings:Routes:0:Retry:Attempts"] = "0",
        }, a =>
        {
            a.MapGet("/product", async (IHttpClientFactory factory) =>
            {
                using var response = await factory.CreateClient("mesh").GetAsync(new Uri("http://reviews/reviews/1"));
                return Results.StatusCode((int)response.StatusCode);
            });
            a.MapGet("/ratings", async (IHttpClientFactory factory) =>
            {
                try
                {
                    await factory.CreateClient("mesh").GetStringAsync(new Uri("http://ratings/"));
                    return Results.Ok();
                }
                catch (HttpRequestException)
                {
                    return Results.StatusCode(502);
                }
            });
        });

        for (var i = 0; i < 60; i++)
        {
            using var response = await app.Client.GetAsync(new Uri("/product", UriKind.Relative));
        }

        using (var refused = await app.Client.GetAsync(new Uri("/ratings", UriKind.Relative)))
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.BadGateway);
        }

        // A meter of the app's own, with label values that need escaping.
        using var meter = new Meter(testMeter);
        var counter = meter.CreateCounter<long>("app.weird_labels", "{event}", "Label values with \"quotes\", \\backslashes\\ and\nnewlines.");
        counter.Add(1, new KeyValuePair<string, object?>("value", "say \"hi\""));
        counter.Add(1, new KeyValuePair<string, object?>("value", "C:\\path\\to"));
        counter.Add(1, new KeyValuePair<string, object?>("value", "line1\nline2"));
        counter.Add(1, new KeyValuePair<string, object?>("value", "all \\ \" \n of them"));

        var text = await app.ScrapeAsync();
        output.WriteLine(text);
        var (exitCode, lint) = await Promtool.CheckMetricsAsync(text);
        exitCode.ShouldBe(0, lint);
        lint.Trim().ShouldBeEmpty();

        // Both sides reported, with the labels the dashboards use.
        text.ShouldContain("mesh_requests_total{connection_security=\"none\",destination_service=\"reviews\"");
        text.ShouldContain("reporter=\"source\"");
        text.ShouldContain("reporter=\"destination\"");
        text.ShouldContain("route=\"/product\"");
        text.ShouldContain("response_code=\"502\",route=\"/ratings\""); // the error the app answered with
        text.ShouldContain("destination_service=\"ratings\",destination_version=\"unknown\",grpc_status=\"\",reporter=\"source\",response_code=\"0\""); // no response at all
        text.ShouldContain("mesh_request_duration_seconds_bucket{");
        text.ShouldContain("le=\"+Inf\"");
        text.ShouldContain("mesh_request_bytes_bucket{");
        text.ShouldContain("mesh_response_bytes_count{");
        Value(text, "mesh_retries_total{destination_service=\"reviews\",route=\"default\"}").ShouldBeGreaterThan(0);
        Value(text, "mesh_faults_injected_total{destination_service=\"reviews\",fault=\"abort\",route=\"default\"}").ShouldBeGreaterThan(0);
        Value(text, "mesh_endpoints{destination_service=\"reviews\"}").ShouldBe(2);
        text.ShouldContain("mesh_outlier_ejected{destination_service=\"reviews\"}");
        text.ShouldContain("mesh_circuit_breaker_open{destination_service=\"reviews\"}");
        text.ShouldContain("app_weird_labels_total{value=\"say \\\"hi\\\"\"} 1");
        text.ShouldContain("app_weird_labels_total{value=\"C:\\\\path\\\\to\"} 1");
        text.ShouldContain("app_weird_labels_total{value=\"line1\\nline2\"} 1");
        text.ShouldContain("app_weird_labels_total{value=\"all \\\\ \\\" \\n of them\"} 1");

        // The Grafana dashboard asks only for names this exporter writes (or that need a registry or certificates).
        var dashboard = File.ReadAllText(Path.Combine(RepositoryRoot(), "dashboards", "meshlib-grafana.json"));
        var notHere = new[] { "mesh_retry_budget_exhausted_total", "mesh_registry_connected", "mesh_registry_snapshot_age_seconds", "mesh_certificate" };
        var asked = System.Text.RegularExpressions.Regex.Matches(dashboard, "mesh_[a-z_]+").Select(m => m.Value).Distinct().ToList();
        asked.ShouldNotBeEmpty();
        foreach (var name in asked.Where(n => !notHere.Contains(n)))
        {
            (text.Contains("\n" + name + "{", StringComparison.Ordinal) || text.Contains("\n" + name + "_bucket{", StringComparison.Ordinal))
                .ShouldBeTrue($"the dashboard asks for {name}");
        }
    }

    [Fact]
    public async Task A_metric_beyond_its_series_cap_keeps_one_overflow_series_and_passes_promtool()
    {
        // Three routes, room for two label sets: the third route's requests go to the overflow series, histograms too.
        await using var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "details",
            ["Mesh:Telemetry:MaxSeriesPerMetric"] = "2",
        }, a =>
        {
            a.MapGet("/a", () => "a");
            a.MapGet("/b", () => "b");
            a.MapGet("/c", () => "c");
        });
        foreach (var path in new[] { "/a", "/b", "/c", "/c" })
        {
            (await app.Client.GetStringAsync(new Uri(path, UriKind.Relative))).ShouldBe(path[1..]);
        }

        var text = await app.ScrapeAsync();
        output.WriteLine(text);
        var requests = text.Split('\n').Where(l => l.StartsWith("mesh_requests_total{", StringComparison.Ordinal)).ToList();
        requests.Count.ShouldBe(3);
        requests.ShouldContain(l => l.Contains("route=\"/a\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        requests.ShouldContain(l => l.Contains("route=\"/b\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        Value(text, "mesh_requests_total{otel_metric_overflow=\"true\"}").ShouldBe(2);
        Value(text, "mesh_request_duration_seconds_count{otel_metric_overflow=\"true\"}").ShouldBe(2);
        text.ShouldNotContain("route=\"/c\"");
        var (exitCode, lint) = await Promtool.CheckMetricsAsync(text);
        exitCode.ShouldBe(0, lint);
    }

    [Fact]
    public async Task Plaintext_callers_are_unknown_whatever_their_headers_claim()
    {
        await using var app = await MeshApp.StartAsync(new() { ["Mesh:Service:Name"] = "details", ["Mesh:Service:Version"] = "v2" },
            a => a.MapGet("/d", () => "ok"));
        using (var claimed = new HttpRequestMessage(HttpMethod.Get, new Uri("/d", UriKind.Relative)))
        {
            claimed.Headers.Add("x-mesh-source-service", "productpage");
            claimed.Headers.Add("x-mesh-source-version", "v1");
            (await app.Client.SendAsync(claimed)).EnsureSuccessStatusCode();
        }

        using (var garbage = new HttpRequestMessage(HttpMethod.Get, new Uri("/d", UriKind.Relative)))
        {
            garbage.Headers.TryAddWithoutValidation("x-mesh-source-service", "evil\" } injected{");
            garbage.Headers.TryAddWithoutValidation("x-mesh-source-version", new string('v', 5000));
            (await app.Client.SendAsync(garbage)).EnsureSuccessStatusCode();
        }

        // Anyone can write a header: only a certificate names the caller.
        var text = await app.ScrapeAsync();
        Value(text, "mesh_requests_total{connection_security=\"none\",destination_service=\"details\",destination_version=\"v2\",grpc_status=\"\",reporter=\"destination\",response_code=\"200\",route=\"/d\",source_service=\"unknown\",source_version=\"unknown\"}").ShouldBe(2);
        text.ShouldNotContain("productpage");
        text.ShouldNotContain("evil");
    }

    [Theory]
    [InlineData("grpc")]
    [InlineData("http/protobuf")]
    public async Task Otlp_export_to_a_closed_port_leaves_requests_unaffected(string protocol)
    {
        await using var backend = await TestBackend.StartAsync("details");
        var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "productpage",
            ["Mesh:Telemetry:Otlp:Endpoint"] = TestBackend.ClosedPortAddress().ToString(),
            ["Mesh:Telemetry:Otlp:Protocol"] = protocol,
            ["Mesh:Telemetry:Otlp:MetricsInterval"] = "00:00:00.2",
            ["Mesh:Telemetry:Otlp:Timeout"] = "00:00:00.5",
            ["Mesh:Services:details:Endpoints:0:Address"] = backend.Address.ToString(),
        }, a => a.MapGet("/p", async (IHttpClientFactory factory) => await factory.CreateClient("mesh").GetStringAsync(new Uri("http://details/"))));
        try
        {
            app.Services.GetRequiredService<Mesh.AspNetCore.Telemetry.MeshOpenTelemetry>().IsExporting.ShouldBeTrue();
            for (var i = 0; i < 200; i++)
            {
                using var response = await app.Client.GetAsync(new Uri("/p", UriKind.Relative));
                response.StatusCode.ShouldBe(HttpStatusCode.OK);
                (await response.Content.ReadAsStringAsync()).ShouldBe("details");
            }

            backend.Requests.ShouldBe(200);
        }
        finally
        {
            // Stopping flushes towards the closed port: it must end, without an exception.
            await Should.NotThrowAsync(async () => await app.DisposeAsync());
        }
    }

    [Fact]
    public async Task Otlp_is_off_by_default()
    {
        await using var app = await MeshApp.StartAsync(new() { ["Mesh:Service:Name"] = "quiet" }, _ => { });
        app.Services.GetRequiredService<Mesh.AspNetCore.Telemetry.MeshOpenTelemetry>().IsExporting.ShouldBeFalse();
    }

    [Fact]
    public async Task The_access_log_writes_one_structured_line_per_request_when_turned_on()
    {
        var logs = new FakeLogCollector();
        await using var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "details",
            ["Mesh:Service:Version"] = "v3",
            ["Mesh:Telemetry:AccessLog"] = "true",
        }, a => a.MapGet("/details/{id}", (string id) => Results.Text("book " + id)), logs: new FakeLoggerProvider(logs));

        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/details/7?x=1", UriKind.Relative)))
        {
            request.Headers.Add("x-request-id", "req-42");
            request.Headers.Add("x-mesh-source-service", "productpage");
            request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
            (await app.Client.SendAsync(request)).EnsureSuccessStatusCode();
        }

        await Poll.UntilAsync(() => logs.GetSnapshot().Any(e => e.Category == "Mesh.AccessLog"));
        var line = logs.GetSnapshot().Single(e => e.Category == "Mesh.AccessLog").Message;
        output.WriteLine(line);
        line.ShouldContain("\"GET /details/7 HTTP/1.1\" 200");
        line.ShouldContain("upstream=details/v3");
        line.ShouldContain("downstream=unknown/unknown");
        line.ShouldContain("route=\"/details/{id}\"");
        line.ShouldContain("request_id=req-42");
        line.ShouldContain("trace_id=0af7651916cd43dd8448eb211c80319c");
        line.ShouldContain("security=none");
    }

    [Fact]
    public async Task Caller_written_values_cannot_forge_an_access_log_line_or_drive_a_terminal()
    {
        var logs = new FakeLogCollector();
        await using var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "details",
            ["Mesh:Telemetry:AccessLog"] = "true",
        }, a => a.MapGet("/{**rest}", () => "ok"), logs: new FakeLoggerProvider(logs));

        // The path decodes to a newline and a forged line; the user agent closes its quotes and adds a field.
        var target = new Uri("/fake%0A[2026-01-01T00:00:00Z]%20%22GET%20/admin%20HTTP/1.1%22%20200%1B[31m", new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri(app.Client.BaseAddress!, target.OriginalString)))
        {
            request.Headers.TryAddWithoutValidation("user-agent", "curl\" route=\"/admin");
            request.Headers.TryAddWithoutValidation("x-request-id", "a\u001b[2Jb");
            await app.Client.SendAsync(request);
        }

        await Poll.UntilAsync(() => logs.GetSnapshot().Any(e => e.Category == "Mesh.AccessLog"));
        var line = logs.GetSnapshot().Single(e => e.Category == "Mesh.AccessLog").Message;
        output.WriteLine(line);
        line.ShouldNotContain("\n");
        line.ShouldNotContain("\u001b");
        line.ShouldContain("/fake\\x0a[2026-01-01T00:00:00Z] \\x22GET /admin HTTP/1.1\\x22 200\\x1b[31m");
        line.ShouldContain("user_agent=\"curl\\x22 route=\\x22/admin\"");
        line.ShouldContain("request_id=a\\x1b[2Jb");
    }

    [Fact]
    public async Task The_access_log_is_off_by_default()
    {
        var logs = new FakeLogCollector();
        await using var app = await MeshApp.StartAsync(new() { ["Mesh:Service:Name"] = "details" }, a => a.MapGet("/d", () => "ok"), logs: new FakeLoggerProvider(logs));
        (await app.Client.GetStringAsync(new Uri("/d", UriKind.Relative))).ShouldBe("ok");
        logs.GetSnapshot().ShouldNotContain(e => e.Category == "Mesh.AccessLog");
    }

    [Fact]
    public async Task A_caller_proven_by_mtls_is_reported_by_its_certificate_identity_not_its_header()
    {
        await using var app = await MeshApp.StartAsync(new() { ["Mesh:Service:Name"] = "ratings", ["Mesh:Service:Version"] = "v1" }, a =>
        {
            // What the mesh TLS connection middleware sets for a peer with a mesh certificate (service and version).
            a.Use(async (context, next) =>
            {
                context.Features.Set(new MeshPeerFeature("reviews", "spiffe://mesh.local/svc/reviews", "v3"));
                await next(context);
            });
            a.MapGet("/r", () => "5 stars");
        });
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/r", UriKind.Relative)))
        {
            request.Headers.Add("x-mesh-source-service", "productpage"); // a lie the certificate overrules
            request.Headers.Add("x-mesh-source-version", "v2");
            (await app.Client.SendAsync(request)).EnsureSuccessStatusCode();
        }

        var text = await app.ScrapeAsync();
        Value(text, "mesh_requests_total{connection_security=\"mutual_tls\",destination_service=\"ratings\",destination_version=\"v1\",grpc_status=\"\",reporter=\"destination\",response_code=\"200\",route=\"/r\",source_service=\"reviews\",source_version=\"v3\"}").ShouldBe(1);
        text.ShouldNotContain("source_service=\"productpage\"");
        text.ShouldNotContain("source_version=\"v2\"");
    }

    [Fact]
    public async Task A_grpc_status_in_the_response_headers_is_the_grpc_status_label()
    {
        await using var backend = await TestBackend.StartAsync("grpc");
        await using var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "frontend",
            ["Mesh:Services:grpc:Endpoints:0:Address"] = backend.Address.ToString(),
            ["Mesh:Services:grpc:Routes:0:Name"] = "default",
            ["Mesh:Services:grpc:Routes:0:Retry:Attempts"] = "0",
            ["Mesh:Services:grpc:Routes:0:Fault:Abort:Percentage"] = "100",
            ["Mesh:Services:grpc:Routes:0:Fault:Abort:GrpcStatus"] = "14",
        }, _ => { });
        using (var response = await app.MeshClient().GetAsync(new Uri("http://grpc/pkg.Service/Method")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        var text = await app.ScrapeAsync();
        Value(text, "mesh_requests_total{connection_security=\"none\",destination_service=\"grpc\",destination_version=\"unknown\",grpc_status=\"14\",reporter=\"source\",response_code=\"200\",route=\"default\",source_service=\"frontend\",source_version=\"unknown\"}").ShouldBe(1);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MeshLib.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("MeshLib.sln not found above " + AppContext.BaseDirectory);
    }

    internal static double Value(string exposition, string series)
    {
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }

        throw new ShouldAssertException($"no series {series} in\n{exposition}");
    }
}
