using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Registry;
using Mesh.Client.Security;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.IntegrationTests;

/// <summary>
/// Workloads and the registry over HTTPS: the registry is pinned by its CA, nothing secret reaches any other server,
/// and once bootstrapped a workload renews its certificate and its lease with the certificate alone.
/// </summary>
[Collection(nameof(ControlPlaneTests))]
public sealed class RegistryTlsTests
{
    [Fact]
    public async Task Apps_pinned_by_fingerprint_or_ca_file_register_get_certificates_and_call_each_other()
    {
        await using var registry = await StartRegistryAsync(null, ["reviews", "productpage"]);
        await using var reviews = await StartAppAsync(registry, "reviews", null, pin: ("CaFingerprint", registry.Fingerprint));
        await using var mesh = MeshTestClient.Create(new
        {
            Service = new { Name = "productpage" },
            Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("productpage"), CaFile = registry.RootFile, Register = false, CacheDirectory = string.Empty },
        });

        using var admin = registry.Client(RegistryHost.AdminToken);
        await Poll.UntilAsync(async () => (await admin.GetStringAsync(new Uri("/v1/services/reviews/instances", UriKind.Relative))).Contains("\"https://127.0.0.1:", StringComparison.Ordinal),
            because: "reviews registers over https");
        await Poll.UntilAsync(() => mesh.GetService<Mesh.Client.Runtime.MeshRuntime>().Model.Services.TryGetValue("reviews", out var s) && s.Endpoints.Length == 1,
            because: "the client discovers reviews over https");
        var identity = (RegistryWorkloadIdentity)mesh.GetService<MeshSecurity>().Identity!;
        await Poll.UntilAsync(() => identity.Current is not null, because: "the client gets its certificate, which it shows reviews");
        (await mesh.Client.GetStringAsync(new Uri("http://reviews/"))).ShouldBe("reviews spiffe://mesh.local/svc/productpage");
        mesh.Logs.GetSnapshot().ShouldNotContain(e => e.Message.Contains("Registry TLS: refused", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_server_with_another_CA_never_receives_the_token()
    {
        // The genuine registry, whose CA the clients pin, and an impostor with a certificate of the same name from another CA.
        await using var registry = await StartRegistryAsync(null, ["reviews"]);
        await using var impostor = await Impostor.StartAsync(registry);

        // Pinned by fingerprint: the impostor may relay the genuine roots, but its own certificate does not chain to them.
        await using (var byFingerprint = Client(impostor.Address, ("CaFingerprint", registry.Fingerprint)))
        {
            await Poll.UntilAsync(() => Refusals(byFingerprint) > 0, because: "the impostor is refused");
            byFingerprint.GetService<RegistryTransport>().Anchors.Count.ShouldBe(0);
        }

        // Pinned by file: refused in the handshake, before any request.
        var requestsBefore = impostor.Requests.Count;
        await using (var byFile = Client(impostor.Address, ("CaFile", registry.RootFile)))
        {
            await Poll.UntilAsync(() => Refusals(byFile) > 0, because: "the impostor is refused");
        }

        impostor.Requests.Count.ShouldBe(requestsBefore, "a CaFile client sends nothing to a server it does not trust");
        impostor.Requests.ShouldNotBeEmpty("the fingerprint client asked for the roots");
        impostor.Requests.ShouldAllBe(r => r.Path == "/v1/ca/bundle.pem" && r.Authorization == null);

        // The same clients against the genuine registry: accepted, and there the token does its work.
        await using var genuine = Client(registry.Address, ("CaFingerprint", registry.Fingerprint));
        var identity = (RegistryWorkloadIdentity)genuine.GetService<MeshSecurity>().Identity!;
        await Poll.UntilAsync(() => identity.Current is not null, because: "the genuine registry issues a certificate");
        Refusals(genuine).ShouldBe(0);

        static MeshTestClient Client(Uri url, (string Key, string Value) pin) => MeshTestClient.Create(
            $$"""{ "Service": { "Name": "reviews" }, "Registry": { "Url": "{{url}}", "Token": "{{RegistryHost.JoinToken("reviews")}}", "{{pin.Key}}": "{{pin.Value}}", "Register": false, "CacheDirectory": "" } }""");
    }

    [Fact]
    public async Task After_bootstrap_the_certificate_alone_renews_itself_and_the_lease()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var registry = await StartRegistryAsync(time, ["reviews"]);
        try
        {
            await using var reviews = await StartAppAsync(registry, "reviews", time, pin: ("CaFingerprint", registry.Fingerprint));
            var identity = (RegistryWorkloadIdentity)reviews.Services.GetRequiredService<MeshSecurity>().Identity!;
            await Poll.UntilAsync(() => identity.Current is not null, because: "the first certificate, with the join token");
            using (var admin = registry.Client(RegistryHost.AdminToken))
            {
                await Poll.UntilAsync(async () => (await admin.GetStringAsync(new Uri("/v1/services/reviews/instances", UriKind.Relative))).Contains("\"id\"", StringComparison.Ordinal),
                    because: "reviews registers");
            }

            // The join token is taken away: the registry restarts (same store, same CA, same port) without it.
            registry.Settings.Remove("MeshRegistry:JoinTokens:reviews");
            await registry.RestartAsync();
            using (var withToken = registry.Client(RegistryHost.JoinToken("reviews")))
            {
                using var refused = await withToken.GetAsync(new Uri("/v1/services", UriKind.Relative));
                refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, "the token is gone");
            }

            // Past the certificate's half-life and many lease periods: both renewed with the certificate.
            var first = identity.Current!.Certificate;
            await Poll.UntilAsync(() =>
            {
                time.Advance(TimeSpan.FromMilliseconds(500));
                return identity.Renewals >= 1;
            }, TimeSpan.FromSeconds(60), "the certificate renews without the token");
            identity.Current!.Certificate.SerialNumber.ShouldNotBe(first.SerialNumber);
            SpiffeId.ServiceOf(identity.Current.Certificate, "mesh.local").ShouldBe("reviews");

            using var admin2 = registry.Client(RegistryHost.AdminToken);
            await Poll.UntilAsync(async () =>
            {
                time.Advance(TimeSpan.FromMilliseconds(500));
                var answer = await admin2.GetFromJsonAsync<InstancesAnswer>(new Uri("/v1/services/reviews/instances", UriKind.Relative));
                return answer!.Instances.Count == 1 && answer.Instances[0].ExpiresAt > time.GetUtcNow() + TimeSpan.FromSeconds(1);
            }, TimeSpan.FromSeconds(30), "the lease keeps being renewed without the token");
            string.Join('\n', reviews.Services.GetFakeLogCollector().GetSnapshot().Select(r => r.Message)).ShouldNotContain(RegistryHost.JoinToken("reviews"));
        }
        finally
        {
            await registry.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_root_rotation_keeps_the_registry_connection_of_a_fingerprint_pinned_client()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var registry = await StartRegistryAsync(time, ["reviews"]);
        await using var mesh = MeshTestClient.Create(new
        {
            Service = new { Name = "reviews" },
            Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("reviews"), CaFingerprint = registry.Fingerprint, Register = false, CacheDirectory = string.Empty },
        }, time);
        var identity = (RegistryWorkloadIdentity)mesh.GetService<MeshSecurity>().Identity!;
        var transport = mesh.GetService<RegistryTransport>();
        await Poll.UntilAsync(() => identity.Current is not null, because: "the first certificate");

        // A new root: the client learns it from the trust bundle, over the pinned connection.
        using var admin = registry.Client(RegistryHost.AdminToken);
        using var added = await admin.PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null);
        added.StatusCode.ShouldBe(HttpStatusCode.Created);
        var id = System.Text.Json.JsonDocument.Parse(await added.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        await Poll.UntilAsync(() => transport.Anchors.Count == 2, because: "the new root is learned");

        // It signs from now on, the registry's own certificate included; the client's next connections still verify.
        using var activated = await admin.PostAsync(new Uri($"/v1/ca/roots/{id}/activate", UriKind.Relative), null);
        activated.StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            return identity.Renewals >= 2;
        }, TimeSpan.FromSeconds(60), "renewals continue on new connections after the rotation");
        identity.Current!.Certificate.Issuer.ShouldContain(id);
        mesh.Logs.GetSnapshot().ShouldNotContain(e => e.Message.Contains("Registry TLS: refused", StringComparison.Ordinal));

        // The old root removed (its key may be why it is rotated away), it vouches for the registry no more, pinned or not.
        var old = System.Text.Json.JsonDocument.Parse(await admin.GetStringAsync(new Uri("/v1/ca/roots", UriKind.Relative))).RootElement
            .GetProperty("roots").EnumerateArray().Single(r => !r.GetProperty("active").GetBoolean());
        var oldRoot = X509Certificate2.CreateFromPem(old.GetProperty("certificate").GetString()!);
        using var removed = await admin.DeleteAsync(new Uri($"/v1/ca/roots/{old.GetProperty("id").GetString()}", UriKind.Relative));
        removed.StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(() => transport.Anchors.Count == 1, because: "the removed root is dropped from the registry's anchors");
        transport.Anchors.ShouldNotContain(a => a.Thumbprint == oldRoot.Thumbprint);
        var renewals = identity.Renewals;
        await Poll.UntilAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            return identity.Renewals > renewals;
        }, TimeSpan.FromSeconds(60), "renewals go on with the new root alone");
    }

    [Fact]
    public async Task Plain_http_to_a_registry_that_is_not_loopback_fails_the_start_unless_allowed()
    {
        var refused = await Should.ThrowAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => StartAsync(allowInsecure: false));
        refused.Message.ShouldContain("Mesh:Registry:Url: 'http://registry.invalid:7400/' is plain http to a host that is not a loopback address");

        await using var allowed = await StartAsync(allowInsecure: true);
        await allowed.StopAsync();

        static async Task<WebApplication> StartAsync(bool allowInsecure)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Mesh:Service:Name"] = "reviews",
                ["Mesh:Registry:Url"] = "http://registry.invalid:7400",
                ["Mesh:Registry:AllowInsecure"] = allowInsecure ? "true" : "false",
                ["Mesh:Registry:Register"] = "false",
                ["Mesh:Registry:CacheDirectory"] = string.Empty,
                ["Mesh:Security:Mode"] = "Disabled",
            });
            builder.Services.AddMesh();
            var app = builder.Build();
            try
            {
                await app.StartAsync();
            }
            catch
            {
                await app.DisposeAsync();
                throw;
            }

            return app;
        }
    }

    /// <summary>The registry on HTTPS with one-minute certificates and a join token for each of <paramref name="services"/>.</summary>
    private static Task<RegistryHost> StartRegistryAsync(TimeProvider? time, string[] services) =>
        RegistryHost.StartAsync(time, s => s["MeshRegistry:CertificateLifetime"] = "00:01:00", https: true, services: services);

    private static int Refusals(MeshTestClient client) =>
        client.Logs.GetSnapshot().Count(e => e.Message.Contains("Registry TLS: refused", StringComparison.Ordinal));

    /// <summary>A meshed app that answers its service name and its caller's SPIFFE ID, pinning the registry as given.</summary>
    private static async Task<WebApplication> StartAppAsync(RegistryHost registry, string service, TimeProvider? time, (string Key, string Value) pin)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddFakeLogging();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mesh:Service:Name"] = service,
            ["Mesh:Registry:Url"] = registry.Address.ToString(),
            ["Mesh:Registry:Token"] = RegistryHost.JoinToken(service),
            [$"Mesh:Registry:{pin.Key}"] = pin.Value,
            ["Mesh:Registry:TtlSeconds"] = "3",
            ["Mesh:Registry:CacheDirectory"] = string.Empty,
            ["Mesh:Registry:DrainDelay"] = "00:00:00",
        });
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        builder.Services.AddMesh();
        var app = builder.Build();
        app.UseMesh();
        app.MapMeshEndpoints();
        app.MapGet("/", (HttpContext context) => $"{service} {context.User.FindFirst(Mesh.AspNetCore.Security.MeshClaims.SpiffeId)?.Value ?? "-"}");
        await app.StartAsync();
        return app;
    }

    private sealed class InstancesAnswer
    {
        public List<InstanceAnswer> Instances { get; set; } = [];
    }

    private sealed class InstanceAnswer
    {
        public DateTimeOffset ExpiresAt { get; set; }
    }
}

/// <summary>
/// A Kestrel HTTPS server posing as the registry: a certificate for <c>spiffe://mesh.local/registry</c> from another CA,
/// relaying the genuine registry's roots at <c>/v1/ca/bundle.pem</c>, and recording every request it receives.
/// </summary>
internal sealed class Impostor : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly X509Certificate2 _certificate;

    private Impostor(WebApplication app, X509Certificate2 certificate)
    {
        _app = app;
        _certificate = certificate;
        Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public Uri Address { get; }

    public ConcurrentQueue<(string Path, string? Authorization)> Requests { get; } = new();

    public static async Task<Impostor> StartAsync(RegistryHost genuine)
    {
        var bundle = string.Concat(genuine.Ca.ListRoots().Roots.Select(r => r.Certificate));
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Impostor root", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=MeshLib registry", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri("spiffe://mesh.local/registry"));
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var signed = request.Create(root, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4]);
        var certificate = signed.CopyWithPrivateKey(key);

        Impostor? impostor = null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            impostor!.Requests.Enqueue((context.Request.Path.Value ?? string.Empty, context.Request.Headers.Authorization.FirstOrDefault()));
            await next(context);
        });
        app.MapGet("/v1/ca/bundle.pem", () => Results.Text(bundle, "application/x-pem-file"));
        await app.StartAsync();
        impostor = new Impostor(app, certificate);
        return impostor;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _certificate.Dispose();
    }
}
