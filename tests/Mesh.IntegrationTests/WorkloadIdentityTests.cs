using Mesh.Client.Security;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;

namespace Mesh.IntegrationTests;

/// <summary>A workload's certificate life cycle against the real registry CA, on a manual clock.</summary>
public sealed class WorkloadIdentityTests
{
    private static readonly string Token = RegistryHost.JoinToken("productpage");

    [Fact]
    public async Task Renews_at_half_life_with_jitter_keeps_the_old_certificate_meanwhile_and_warns_past_80_percent()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var registry = await RegistryHost.StartAsync(time, s => s["MeshRegistry:CertificateLifetime"] = "00:01:00", services: ["productpage"]);
        var address = registry.Address;
        await using var mesh = MeshTestClient.Create(new
        {
            Service = new { Name = "productpage" },
            Registry = new { Url = address, Token, Register = false, CacheDirectory = string.Empty },
        }, time);
        var meters = mesh.GetService<System.Diagnostics.Metrics.IMeterFactory>();
        using var expiry = new MetricCollector<double>(meters, MeshSecurity.MeterName, "mesh.certificate.expiry");
        var identity = (RegistryWorkloadIdentity)mesh.GetService<MeshSecurity>().Identity!;

        // The first certificate, for the token's service, with the renewal timer armed at 30 s ± 10%.
        await Poll.UntilAsync(() => identity.Current is not null && identity.NextAttemptAt is not null, because: "the first certificate arrives");
        var first = identity.Current!;
        SpiffeId.ServiceOf(first.Certificate, "mesh.local").ShouldBe("productpage");
        first.Certificate.HasPrivateKey.ShouldBeTrue();
        var due = identity.NextAttemptAt!.Value - identity.IssuedAt;
        due.ShouldBeInRange(TimeSpan.FromSeconds(27), TimeSpan.FromSeconds(33));
        expiry.RecordObservableInstruments();
        expiry.LastMeasurement.ShouldNotBeNull().Value.ShouldBe(60, tolerance: 1);

        // Not a moment early; then renewed, and the new certificate replaces the old one.
        time.Advance(due - TimeSpan.FromSeconds(1));
        identity.Renewals.ShouldBe(0);
        identity.Current!.Certificate.ShouldBeSameAs(first.Certificate);
        var armedBefore = identity.NextAttemptAt;
        time.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => identity.Renewals == 1 && identity.NextAttemptAt != armedBefore, because: "the renewal completes");
        var second = identity.Current!;
        second.Certificate.SerialNumber.ShouldNotBe(first.Certificate.SerialNumber);

        // The registry goes away: renewals fail and are retried, the certificate in hand keeps serving, and past 80% of
        // its lifetime every failure is a warning.
        await registry.DisposeAsync();
        var warned = () => mesh.Logs.GetSnapshot().Any(e => e.Level == LogLevel.Warning && e.Message.Contains("past 80%", StringComparison.Ordinal));
        await Poll.UntilAsync(() =>
        {
            if (!warned())
            {
                time.Advance(TimeSpan.FromMilliseconds(500));
            }

            return warned();
        }, TimeSpan.FromSeconds(60), "the late renewal is warned about");
        identity.Current!.Certificate.ShouldBeSameAs(second.Certificate);
        (time.GetUtcNow() - identity.IssuedAt).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(48));

        // Nothing secret in the log.
        var text = string.Join('\n', mesh.Logs.GetSnapshot().Select(e => e.Message));
        text.ShouldNotContain("PRIVATE KEY");
        text.ShouldNotContain(Token);
    }
}

/// <summary>The whole path with the registry: identities from its CA, discovery of https endpoints, mTLS between apps.</summary>
[Collection(nameof(ControlPlaneTests))]
public sealed class RegistryMutualTlsTests
{
    [Fact]
    public async Task Apps_with_registry_identities_register_as_https_and_call_each_other_over_mutual_tls()
    {
        await using var registry = await RegistryHost.StartAsync(services: ["reviews", "productpage"]);
        await using var reviews = await registry.StartAppAsync("reviews", null, app => app.MapGet("/", (Microsoft.AspNetCore.Http.HttpContext context) =>
            $"{context.User.Identity?.AuthenticationType ?? "-"} {context.User.FindFirst(Mesh.AspNetCore.Security.MeshClaims.SpiffeId)?.Value ?? "-"}"));

        await using var mesh = MeshTestClient.Create(new
        {
            Service = new { Name = "productpage" },
            Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },
        });

        // Registered as https: it serves mesh TLS (and, Permissive, plaintext on the same port).
        var admin = registry.Admin;
        await Poll.UntilAsync(async () => (await admin.GetStringAsync(new Uri("/v1/services/reviews/instances", UriKind.Relative))).Contains("\"https://127.0.0.1:", StringComparison.Ordinal),
            because: "reviews registers its https address");
        await Poll.UntilAsync(() => mesh.GetService<Mesh.Client.Runtime.MeshRuntime>().Model.Services.TryGetValue("reviews", out var s) && s.Endpoints.Length == 1,
            because: "the client discovers reviews");

        await Poll.UntilAsync(() => mesh.GetService<MeshSecurity>().Identity!.Current is not null, because: "productpage gets its certificate");
        (await mesh.Client.GetStringAsync(new Uri("http://reviews/"))).ShouldBe("MeshMutualTls spiffe://mesh.local/svc/productpage");

        // A client with no identity of its own still reaches the Permissive app, in plaintext on the same port.
        await using var anonymous = MeshTestClient.Create(new
        {
            Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },
        });
        await Poll.UntilAsync(() => anonymous.GetService<Mesh.Client.Runtime.MeshRuntime>().Model.Services.TryGetValue("reviews", out var s) && s.Endpoints.Length == 1,
            because: "the anonymous client discovers reviews");
        (await anonymous.Client.GetStringAsync(new Uri("http://reviews/"))).ShouldBe("- -");

        // The server side's metrics name the caller its certificate proved, and say how the connection was secured.
        var address = reviews.Services.GetRequiredService<IServer>()
            .Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var scraper = new HttpClient();
        var metrics = await scraper.GetStringAsync(new Uri(new Uri(address), "/metrics"));
        var served = metrics.Split('\n').Where(l => l.StartsWith("mesh_requests_total{", StringComparison.Ordinal) &&
            l.Contains("reporter=\"destination\"", StringComparison.Ordinal) && l.Contains("route=\"/\"", StringComparison.Ordinal)).ToList();
        served.ShouldContain(l => l.Contains("connection_security=\"mutual_tls\"", StringComparison.Ordinal) &&
            l.Contains("source_service=\"productpage\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        served.ShouldContain(l => l.Contains("connection_security=\"none\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
    }
}
