using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.AspNetCore.Telemetry;
using Mesh.Client.Security;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests.Observability;

/// <summary>
/// Callers cannot choose their own metric labels: the caller's service and version come from the certificate the
/// registry's CA issued, and a flood of forged <c>x-mesh-source-*</c> headers (plaintext, or from a real mesh workload
/// over mTLS) neither shows up in <c>/metrics</c> nor pushes a real caller out of the series cap.
/// </summary>
[Collection(nameof(ControlPlaneTests))]
public sealed class ForgedLabelTests(ITestOutputHelper output)
{
    /// <summary>More than the default cap of 2,000 series per metric.</summary>
    private const int Flood = 2100;

    [Fact]
    public async Task Forged_source_headers_from_plaintext_and_mtls_floods_reach_no_label_and_a_real_callers_series_appears()
    {
        await using var registry = await RegistryHost.StartAsync(services: ["reviews", "productpage", "ratings"]);
        await using var reviews = await StartAppAsync(registry, "reviews", "v1");
        var reviewsAddress = new Uri(reviews.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        // 1. Plaintext callers (Permissive serves them), each claiming another service and version.
        using (var plain = new HttpClient { BaseAddress = reviewsAddress })
        {
            await SendFloodAsync(plain, i => (Forged("svc", i), Forged("ver", i)));
        }

        // 2. A real mesh workload with a registry certificate (ratings, v7), claiming other versions and services in headers.
        await using (var ratings = MeshTestClient.Create(new
        {
            Service = new { Name = "ratings", Version = "v7" },
            Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("ratings"), Register = false, CacheDirectory = string.Empty },
        }))
        {
            var identity = ratings.GetService<MeshSecurity>().Identity!;
            await Poll.UntilAsync(() => identity.Current is not null, because: "ratings gets its certificate");
            WorkloadVersion.Of(identity.Current!.Certificate).ShouldBe("v7");
            using var mtls = new HttpClient(TestCertificateAuthority.CreateUncheckedHandler(identity.Current.Certificate))
            {
                BaseAddress = new UriBuilder(reviewsAddress) { Scheme = Uri.UriSchemeHttps }.Uri,
            };
            await SendFloodAsync(mtls, i => (i % 2 == 0 ? "productpage" : Forged("svc", i), Forged("ver", i)));
        }

        // 3. A real caller arrives after the floods: productpage v2, through the mesh, over mTLS.
        await using var productpage = MeshTestClient.Create(new
        {
            Service = new { Name = "productpage", Version = "v2" },
            Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },
        });
        var caller = productpage.GetService<MeshSecurity>().Identity!;
        await Poll.UntilAsync(() => caller.Current is not null, because: "productpage gets its certificate");
        await Poll.UntilAsync(() => productpage.GetService<Mesh.Client.Runtime.MeshRuntime>().Model.Services.TryGetValue("reviews", out var s) &&
            s.Endpoints.Length == 1, because: "productpage discovers reviews");
        (await productpage.Client.GetStringAsync(new Uri("http://reviews/r"))).ShouldBe("5 stars");

        using var scraper = new HttpClient();
        var metrics = await scraper.GetStringAsync(new Uri(reviewsAddress, "/metrics"));
        var requests = metrics.Split('\n').Where(l => l.StartsWith("mesh_requests_total{", StringComparison.Ordinal) &&
            l.Contains("reporter=\"destination\"", StringComparison.Ordinal) && l.Contains("route=\"/r\"", StringComparison.Ordinal)).ToList();
        foreach (var line in requests)
        {
            output.WriteLine(line);
        }

        metrics.ShouldNotContain("forged-");
        requests.Count.ShouldBe(3);
        Count(requests, "none", "unknown", "unknown").ShouldBe(Flood);
        Count(requests, "mutual_tls", "ratings", "v7").ShouldBe(Flood);
        Count(requests, "mutual_tls", "productpage", "v2").ShouldBe(1);
        metrics.ShouldNotContain("mesh_metrics_series_dropped_total{");
        var (exitCode, lint) = await Promtool.CheckMetricsAsync(metrics);
        exitCode.ShouldBe(0, lint);
    }

    [Fact]
    public async Task A_workload_minting_certificates_for_many_versions_brings_at_most_ten_version_labels()
    {
        // A configured join token names no version, so its holder can get a certificate for any version it likes.
        await using var registry = await RegistryHost.StartAsync(services: ["reviews", "ratings"]);
        await using var reviews = await StartAppAsync(registry, "reviews", "v1");
        var reviewsAddress = new Uri(reviews.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        using var registryClient = new HttpClient { BaseAddress = registry.Address };
        registryClient.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", RegistryHost.JoinToken("ratings"));

        const int minted = SourceVersionLabels.MaxVersionsPerService + 5;
        for (var i = 0; i < minted; i++)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var csr = new CertificateRequest(
                WorkloadVersion.Subject("ratings", $"mint-{i}"), key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
            using var signed = await registryClient.PostAsJsonAsync(new Uri("/v1/certificates", UriKind.Relative), new { csr });
            signed.StatusCode.ShouldBe(HttpStatusCode.OK, await signed.Content.ReadAsStringAsync());
            var pem = (await signed.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("certificate").GetString()!;
            using var issued = X509Certificate2.CreateFromPem(pem);
            using var certificate = issued.CopyWithPrivateKey(key);
            using var mtls = new HttpClient(TestCertificateAuthority.CreateUncheckedHandler(certificate))
            {
                BaseAddress = new UriBuilder(reviewsAddress) { Scheme = Uri.UriSchemeHttps }.Uri,
            };
            (await mtls.GetStringAsync(new Uri("/r", UriKind.Relative))).ShouldBe("5 stars");
        }

        using var scraper = new HttpClient();
        var metrics = await scraper.GetStringAsync(new Uri(reviewsAddress, "/metrics"));
        var requests = metrics.Split('\n').Where(l => l.StartsWith("mesh_requests_total{", StringComparison.Ordinal) &&
            l.Contains("reporter=\"destination\"", StringComparison.Ordinal) && l.Contains("source_service=\"ratings\"", StringComparison.Ordinal)).ToList();
        requests.Count.ShouldBe(SourceVersionLabels.MaxVersionsPerService + 1);
        for (var i = 0; i < SourceVersionLabels.MaxVersionsPerService; i++)
        {
            Count(requests, "mutual_tls", "ratings", $"mint-{i}").ShouldBe(1);
        }

        Count(requests, "mutual_tls", "ratings", SourceVersionLabels.Other).ShouldBe(5);
    }

    private static string Forged(string what, int i) => string.Create(CultureInfo.InvariantCulture, $"forged-{what}-{i}");

    private static double Count(List<string> lines, string security, string service, string version)
    {
        var line = lines.Single(l => l.Contains($"connection_security=\"{security}\"", StringComparison.Ordinal) &&
            l.Contains($"source_service=\"{service}\"", StringComparison.Ordinal) && l.Contains($"source_version=\"{version}\"", StringComparison.Ordinal));
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    private static async Task SendFloodAsync(HttpClient client, Func<int, (string Service, string Version)> claim)
    {
        var next = -1;
        var workers = Enumerable.Range(0, 8).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Flood)
            {
                var (service, version) = claim(i);
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/r", UriKind.Relative));
                request.Headers.Add("x-mesh-source-service", service);
                request.Headers.Add("x-mesh-source-version", version);
                using var response = await client.SendAsync(request);
                response.StatusCode.ShouldBe(HttpStatusCode.OK);
            }
        });
        await Task.WhenAll(workers);
    }

    private static Task<WebApplication> StartAppAsync(RegistryHost registry, string service, string version) =>
        registry.StartAppAsync(service, version, app => app.MapGet("/r", () => "5 stars"));
}
