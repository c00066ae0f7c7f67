using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests.Observability;

/// <summary>
/// Prometheus finds the mesh through the registry (<c>http_sd_configs</c> on <c>GET /v1/prometheus/targets</c>), and a
/// Strict app is scraped through its plaintext metrics listener.
/// </summary>
public sealed class PrometheusDiscoveryTests(ITestOutputHelper output)
{
    private static readonly string[] Services = ["reviews", "ratings", "details", "prometheus"];

    [Fact]
    public async Task A_strict_app_serves_metrics_and_health_on_its_listener_and_advertises_it()
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        await using var app = await StartAppAsync(registry, "details", strict: true);
        var listener = ListenerAddress(app);
        using var http = new HttpClient { BaseAddress = listener };

        using (var metrics = await http.GetAsync(new Uri("/metrics", UriKind.Relative)))
        {
            metrics.StatusCode.ShouldBe(HttpStatusCode.OK);
            metrics.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
            (await metrics.Content.ReadAsStringAsync()).ShouldContain("# TYPE ");
        }

        (await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Only those two: the app's own endpoints are not served here, mesh identity or not, in any spelling.
        (await http.GetAsync(new Uri("/", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        foreach (var path in new[] { "/?x=1", "//", "/%2F", "/.", "/metrics/..", "/healthz/../", "/metrics/x", "/metricsx", "/healthz/x", "/index.html" })
        {
            foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post, HttpMethod.Head })
            {
                using var other = await http.SendAsync(new HttpRequestMessage(method, new Uri(listener.GetLeftPart(UriPartial.Authority) + path)));
                other.StatusCode.ShouldBe(HttpStatusCode.NotFound, $"{method} {path}");
                (await other.Content.ReadAsStringAsync()).ShouldNotContain("hello", customMessage: $"{method} {path}");
            }
        }

        foreach (var path in new[] { "/METRICS", "/Metrics?x=1", "/HEALTHZ", "/healthz?x=1" })
        {
            using var spelled = await http.GetAsync(new Uri(path, UriKind.Relative));
            spelled.StatusCode.ShouldBe(HttpStatusCode.OK, path);
            (await spelled.Content.ReadAsStringAsync()).ShouldNotContain("hello", customMessage: path);
        }

        // The app's own port stays mTLS only.
        using var plain = new HttpClient { BaseAddress = AppAddress(app) };
        await Should.ThrowAsync<HttpRequestException>(() => plain.GetAsync(new Uri("/metrics", UriKind.Relative)));

        // Discovery points Prometheus at the listener, in plain http.
        var admin = registry.Admin;
        JsonElement group = default;
        await Poll.UntilAsync(async () =>
        {
            using var doc = JsonDocument.Parse(await admin.GetStringAsync(new Uri("/v1/prometheus/targets", UriKind.Relative)));
            group = doc.RootElement.Clone();
            return group.GetArrayLength() == 1;
        }, TimeSpan.FromSeconds(10), "the app registers");
        group[0].GetProperty("targets")[0].GetString().ShouldBe(listener.Authority);
        group[0].GetProperty("labels").GetProperty("__scheme__").GetString().ShouldBe("http");
    }

    [Fact]
    public async Task Prometheus_discovers_three_apps_through_the_registry_and_drops_one_that_stops()
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        await using var reviews = await StartAppAsync(registry, "reviews", strict: false);
        await using var ratings = await StartAppAsync(registry, "ratings", strict: false);
        await using var details = await StartAppAsync(registry, "details", strict: true);

        // Prometheus knows nothing but the registry's discovery URL and a token to read it.
        using var prometheus = PrometheusServer.StartWithHttpDiscovery(new Uri(registry.Address, "/v1/prometheus/targets"), RegistryHost.AdminToken);

        List<(Dictionary<string, string> Labels, string Health, string ScrapeUrl)> targets = [];
        try
        {
            await Poll.UntilAsync(async () =>
            {
                prometheus.HasExited.ShouldBeFalse("prometheus exited");
                targets = await prometheus.ActiveTargetsAsync();
                return targets.Count == 3 && targets.All(t => t.Health == "up");
            }, TimeSpan.FromSeconds(30), "Prometheus lists the three apps as up");
        }
        finally
        {
            output.WriteLine(prometheus.Log);
            foreach (var t in targets)
            {
                output.WriteLine($"{string.Join(',', t.Labels)} {t.Health} {t.ScrapeUrl}");
            }
        }

        targets.Select(t => t.Labels["service"]).ShouldBe(["reviews", "ratings", "details"], ignoreOrder: true);
        targets.Single(t => t.Labels["service"] == "details").ScrapeUrl.ShouldBe(new Uri(ListenerAddress(details), "/metrics").ToString());
        targets.Single(t => t.Labels["service"] == "reviews").Labels["version"].ShouldBe("v1");
        targets.ShouldAllBe(t => t.Labels.ContainsKey("instance_id"));

        // The mesh's own series, scraped from the Strict app through its listener.
        await Poll.UntilAsync(async () =>
        {
            var up = await prometheus.QueryAsync("up{service=\"details\"}");
            return up.Count == 1 && up[0].Value == "1";
        }, TimeSpan.FromSeconds(30), "the Strict app's scrape succeeds");

        // A graceful stop deregisters: the next discovery refresh drops the target.
        await ratings.StopAsync();
        await Poll.UntilAsync(async () =>
        {
            targets = await prometheus.ActiveTargetsAsync();
            return targets.Count == 2;
        }, TimeSpan.FromSeconds(30), "the stopped app's target disappears");
        targets.Select(t => t.Labels["service"]).ShouldBe(["reviews", "details"], ignoreOrder: true);
    }

    [Fact]
    public async Task Prometheus_scrapes_a_strict_app_over_mtls_with_a_prometheus_identity_from_the_registry()
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        await using var details = await StartAppAsync(registry, "details", strict: true, listener: false);

        // Prometheus's own key and a certificate for spiffe://<trust domain>/svc/prometheus, signed by the registry.
        var folder = Directory.CreateTempSubdirectory("mesh-prometheus-identity-").FullName;
        try
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var csr = new CertificateRequest("CN=prometheus", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
            using var signed = await registry.Client(RegistryHost.JoinToken("prometheus"))
                .PostAsJsonAsync(new Uri("/v1/certificates", UriKind.Relative), new { csr });
            var body = await signed.Content.ReadAsStringAsync();
            signed.IsSuccessStatusCode.ShouldBeTrue(body);
            using var certificate = JsonDocument.Parse(body);
            certificate.RootElement.GetProperty("spiffeId").GetString().ShouldEndWith("/svc/prometheus");
            var certFile = Path.Combine(folder, "prometheus.crt");
            var keyFile = Path.Combine(folder, "prometheus.key");
            await File.WriteAllTextAsync(certFile, certificate.RootElement.GetProperty("certificate").GetString());
            await File.WriteAllTextAsync(keyFile, key.ExportPkcs8PrivateKeyPem());

            // The scrape configuration docs/observability.md gives for the mTLS scrape.
            using var prometheus = PrometheusServer.Start($"""
                scrape_configs:
                  - job_name: mesh-strict
                    scrape_interval: 1s
                    scrape_timeout: 900ms
                    http_sd_configs:
                      - url: '{new Uri(registry.Address, "/v1/prometheus/targets")}'
                        refresh_interval: 1s
                        authorization:
                          type: Bearer
                          credentials: '{RegistryHost.JoinToken("prometheus")}'
                    tls_config:
                      cert_file: '{certFile}'
                      key_file: '{keyFile}'
                      insecure_skip_verify: true
                """);
            List<(Dictionary<string, string> Labels, string Health, string ScrapeUrl)> targets = [];
            try
            {
                await Poll.UntilAsync(async () =>
                {
                    prometheus.HasExited.ShouldBeFalse("prometheus exited");
                    targets = await prometheus.ActiveTargetsAsync();
                    return targets.Count == 1 && targets[0].Health == "up";
                }, TimeSpan.FromSeconds(30), "Prometheus scrapes the Strict app over mTLS");
            }
            finally
            {
                output.WriteLine(prometheus.Log);
                foreach (var t in targets)
                {
                    output.WriteLine($"{string.Join(',', t.Labels)} {t.Health} {t.ScrapeUrl}");
                }
            }

            targets[0].ScrapeUrl.ShouldStartWith("https://");
            targets[0].Labels["service"].ShouldBe("details");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A meshed app joining <paramref name="registry"/>, with a metrics listener on a free loopback port; Strict takes its certificate from the registry.</summary>
    private static async Task<WebApplication> StartAppAsync(RegistryHost registry, string service, bool strict, bool listener = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mesh:Service:Name"] = service,
            ["Mesh:Service:Version"] = "v1",
            ["Mesh:Registry:Url"] = registry.Address.ToString(),
            ["Mesh:Registry:Token"] = RegistryHost.JoinToken(service),
            ["Mesh:Registry:CacheDirectory"] = string.Empty,
            ["Mesh:Registry:DrainDelay"] = "00:00:00",
            ["Mesh:Security:Mode"] = strict ? "Strict" : "Permissive",
            ["Mesh:Telemetry:MetricsListener"] = strict && listener ? "http://127.0.0.1:0" : null,
        });
        builder.Services.AddMesh();
        var app = builder.Build();
        app.UseMesh();
        app.MapMeshEndpoints();
        app.MapGet("/", () => "hello");
        await app.StartAsync();
        return app;
    }

    private static Uri ListenerAddress(WebApplication app) =>
        app.Services.GetRequiredService<Mesh.AspNetCore.Telemetry.MeshMetricsListener>().BoundAddress ?? throw new InvalidOperationException("no metrics listener");

    private static Uri AppAddress(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
}
