using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Mesh.Client.Security;
using Mesh.Registry.Ca;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Registry.Tests;

/// <summary>The registry on HTTPS: its own CA-issued certificate, and workloads authenticated by their mesh certificates.</summary>
public sealed class RegistryTlsTests
{
    [Fact]
    public async Task Serves_a_certificate_from_its_own_CA_for_the_registry_SPIFFE_ID_and_its_roots_to_check_the_printed_fingerprint()
    {
        await using var host = await RegistryHost.StartAsync(https: true);
        host.Address.Scheme.ShouldBe("https");
        var ca = host.App.Services.GetRequiredService<CertificateAuthority>();
        var leaf = (await HandshakeAsync(host.Address, clientCertificate: null)).Leaf;
        SpiffeId.UrisOf(leaf).ShouldBe(["spiffe://mesh.local/registry"]);
        leaf.Issuer.ShouldContain(ca.ActiveRootId);
        var names = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        names.EnumerateDnsNames().ShouldContain("localhost");
        names.EnumerateIPAddresses().ShouldContain(IPAddress.Loopback);

        // The pin an operator copies: the SHA-256 of the active root's DER, printed once at start.
        using var rootFile = X509Certificate2.CreateFromPem(File.ReadAllText(ca.ActiveRootFile));
        ca.ActiveRootFingerprint.ShouldBe("sha256:" + Convert.ToHexStringLower(SHA256.HashData(rootFile.RawData)));
        host.Console.ToString().ShouldContain($"CA fingerprint: {ca.ActiveRootFingerprint}");
        host.Console.ToString().ShouldContain(ca.ActiveRootFile);

        // The roots are public, for a client to find the pinned one and check the server's chain against it.
        using var anonymous = host.Client(null, null);
        using var bundle = await anonymous.GetAsync(new Uri("/v1/ca/bundle.pem", UriKind.Relative));
        bundle.StatusCode.ShouldBe(HttpStatusCode.OK);
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(await bundle.Content.ReadAsStringAsync());
        var pinned = roots.Single(r => CaFingerprint.Of(r) == ca.ActiveRootFingerprint);
        RegistryHost.ChainsTo(leaf, [pinned], DateTimeOffset.UtcNow).ShouldBeTrue();

        // Everything else still needs a token or a certificate.
        using var refused = await anonymous.GetAsync(new Uri("/v1/services", UriKind.Relative));
        refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        using var bundleWatch = await anonymous.GetAsync(new Uri("/v1/trust-bundle", UriKind.Relative));
        bundleWatch.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_workload_certificate_renews_itself_and_its_instances_without_the_join_token()
    {
        // The token bootstraps the first certificate, then is taken away at the registry.
        await using var host = await RegistryHost.StartAsync(https: true);
        var first = await BootstrapAsync(host, RegistryHost.ReviewsToken);
        host.Settings.Remove("MeshRegistry:JoinTokens:reviews");
        await host.RestartAsync();
        using (var withToken = host.Client(RegistryHost.ReviewsToken))
        {
            using var gone = await withToken.RegisterAsync("reviews", "r1", "http://10.0.0.1:80");
            gone.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, "the join token no longer exists");
        }

        // The certificate carries no version, so its instances register without one.
        using var client = host.Client(null, first);
        using (var registered = await client.RegisterAsync("reviews", "r1", "http://10.0.0.1:80", version: null))
        {
            registered.StatusCode.ShouldBe(HttpStatusCode.Created, await registered.Content.ReadAsStringAsync());
        }

        using (var renewed = await client.RegisterAsync("reviews", "r1", "http://10.0.0.1:80", version: null))
        {
            renewed.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        (await client.InstanceIdsAsync("reviews")).ShouldBe(["r1"]);

        // A new certificate for the same service, asked for with the current one alone.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var renewal = await client.PostAsync(new Uri("/v1/certificates", UriKind.Relative),
            Api.Json(JsonSerializer.Serialize(new { csr = CertificateAuthorityTests.Csr(key, null) })));
        var body = await renewal.Content.ReadAsStringAsync();
        renewal.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        using var doc = JsonDocument.Parse(body);
        doc.RootElement.GetProperty("spiffeId").GetString().ShouldBe("spiffe://mesh.local/svc/reviews");

        using (var deregistered = await client.DeleteAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative)))
        {
            deregistered.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        }
    }

    [Fact]
    public async Task A_renewal_by_certificate_keeps_its_version_and_spends_no_use_of_the_token()
    {
        await using var host = await RegistryHost.StartAsync(https: true);
        var made = await JoinTokenTests.CreateAsync(host.Admin, """{ "service": "reviews", "version": "v2", "ttl": "01:00:00", "uses": 1 }""");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        X509Certificate2 first;
        using (var bootstrap = host.Client(made.GetProperty("token").GetString()!))
        {
            var answer = await CertificateAuthorityTests.SignAsync(bootstrap, CertificateVersionTests.Csr(key, "CN=reviews, OU=v2"));
            answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
            using var issued = X509Certificate2.CreateFromPem(answer.Json.GetProperty("certificate").GetString()!);
            first = issued.CopyWithPrivateKey(key);
        }

        using var client = host.Client(null, first);
        using var next = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        // The certificate vouches for v2 only: a renewal asking for another version is refused.
        var other = await CertificateAuthorityTests.SignAsync(client, CertificateVersionTests.Csr(next, "CN=reviews, OU=v3"));
        other.StatusCode.ShouldBe(HttpStatusCode.Forbidden, other.Body);

        // The token's only use went to the bootstrap; renewals by certificate keep working, at v2, and cost none.
        for (var i = 0; i < 2; i++)
        {
            var renewed = await CertificateAuthorityTests.SignAsync(client, CertificateVersionTests.Csr(next, "CN=reviews"));
            renewed.StatusCode.ShouldBe(HttpStatusCode.OK, renewed.Body);
            using var certificate = X509Certificate2.CreateFromPem(renewed.Json.GetProperty("certificate").GetString()!);
            Mesh.Client.Security.WorkloadVersion.Of(certificate).ShouldBe("v2");
        }

        (await host.Admin.GetJsonAsync("/v1/join-tokens")).GetProperty("tokens")[0].GetProperty("used").GetInt32().ShouldBe(1);

        // Its instances register at its version only: neither as another version nor through a "version" label.
        (await client.RegisterAsync("reviews", "r1", "http://10.0.0.1:80", version: "v2")).StatusCode.ShouldBe(HttpStatusCode.Created);
        await (await client.RegisterAsync("reviews", "r2", "http://10.0.0.2:80", version: "canary")).ProblemAsync(HttpStatusCode.Forbidden);
        using (var labelled = await client.PutAsync(new Uri("/v1/services/reviews/instances/r3", UriKind.Relative),
                   Api.Json("""{ "address": "http://10.0.0.3:80", "ttlSeconds": 30, "labels": { "Version": "canary" } }""")))
        {
            await labelled.ProblemAsync(HttpStatusCode.Forbidden);
        }

        (await client.InstanceIdsAsync("reviews")).ShouldBe(["r1"]);
        first.Dispose();
    }

    [Fact]
    public async Task A_certificate_for_one_service_cannot_act_for_another_nor_as_admin()
    {
        await using var host = await RegistryHost.StartAsync(https: true);
        using var reviews = host.Client(null, await BootstrapAsync(host, RegistryHost.ReviewsToken));

        using (var other = await reviews.RegisterAsync("ratings", "x", "http://10.0.0.1:80"))
        {
            await other.ProblemAsync(HttpStatusCode.Forbidden);
        }

        using (var otherDelete = await reviews.DeleteAsync(new Uri("/v1/services/ratings/instances/x", UriKind.Relative)))
        {
            await otherDelete.ProblemAsync(HttpStatusCode.Forbidden);
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using (var sign = await reviews.PostAsync(new Uri("/v1/certificates", UriKind.Relative),
                   Api.Json(JsonSerializer.Serialize(new { csr = CertificateAuthorityTests.Csr(key, null), service = "ratings" }))))
        {
            await sign.ProblemAsync(HttpStatusCode.Forbidden);
        }

        using (var csrForOther = await reviews.PostAsync(new Uri("/v1/certificates", UriKind.Relative),
                   Api.Json(JsonSerializer.Serialize(new { csr = CertificateAuthorityTests.Csr(key, "spiffe://mesh.local/svc/ratings") }))))
        {
            await csrForOther.ProblemAsync(HttpStatusCode.Forbidden);
        }

        using (var policy = await reviews.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json("{}")))
        {
            await policy.ProblemAsync(HttpStatusCode.Forbidden);
        }

        using (var roots = await reviews.PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null))
        {
            await roots.ProblemAsync(HttpStatusCode.Forbidden);
        }
    }

    [Fact]
    public async Task A_certificate_from_another_CA_or_an_expired_one_authenticates_nobody()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await RegistryHost.StartAsync(time, s => s["MeshRegistry:CertificateLifetime"] = "00:01:00", https: true);

        // Same SPIFFE ID, foreign CA.
        using var foreign = new TestCertificateAuthority("mesh.local");
        using var forged = foreign.IssueWorkload("reviews");
        using (var client = host.Client(null, forged))
        {
            using var refused = await client.RegisterAsync("reviews", "r1", "http://10.0.0.1:80");
            refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }

        // The registry's own certificate, once expired.
        var issued = await BootstrapAsync(host, RegistryHost.ReviewsToken);
        time.Advance(TimeSpan.FromMinutes(2));
        using (var client = host.Client(null, issued))
        {
            using var expired = await client.RegisterAsync("reviews", "r1", "http://10.0.0.1:80");
            expired.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public async Task The_server_certificate_renews_at_half_life_and_follows_the_active_root_without_a_restart()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await RegistryHost.StartAsync(time, s => s["MeshRegistry:CertificateLifetime"] = "00:10:00", https: true);
        var ca = host.App.Services.GetRequiredService<CertificateAuthority>();
        var first = (await HandshakeAsync(host.Address, null)).Leaf;
        (first.NotAfter.ToUniversalTime() - time.GetUtcNow().UtcDateTime).ShouldBe(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(1));

        // Before half-life new connections get the same certificate; after it, a new one.
        time.Advance(TimeSpan.FromMinutes(4));
        (await HandshakeAsync(host.Address, null)).Leaf.SerialNumber.ShouldBe(first.SerialNumber);
        time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        var second = (await HandshakeAsync(host.Address, null)).Leaf;
        second.SerialNumber.ShouldNotBe(first.SerialNumber);
        second.NotAfter.ShouldBeGreaterThan(first.NotAfter);

        // A new active root: the next connection's certificate comes from it, and the root sent along is the new one.
        using var admin = host.Admin;
        using var added = await admin.PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null);
        var id = (await added.ReadJsonAsync()).GetProperty("id").GetString()!;
        (await HandshakeAsync(host.Address, null)).Leaf.SerialNumber.ShouldBe(second.SerialNumber, "an added root does not sign until activated");
        using var activated = await admin.PostAsync(new Uri($"/v1/ca/roots/{id}/activate", UriKind.Relative), null);
        activated.StatusCode.ShouldBe(HttpStatusCode.OK);
        var rotated = (await HandshakeAsync(host.Address, null)).Leaf;
        rotated.Issuer.ShouldContain(id);
        var listed = await admin.GetJsonAsync("/v1/ca/roots");
        listed.GetProperty("roots").EnumerateArray().Single(r => r.GetProperty("active").GetBoolean())
            .GetProperty("fingerprint").GetString().ShouldBe(ca.ActiveRootFingerprint, "operators read the pin again here");
        using var newRoot = X509Certificate2.CreateFromPem(File.ReadAllText(ca.ActiveRootFile));
        ca.ActiveRootId.ShouldBe(id);
        RegistryHost.ChainsTo(rotated, [newRoot], time.GetUtcNow()).ShouldBeTrue();
    }

    [Fact]
    public async Task The_registry_process_on_https_is_reached_by_clients_and_the_cli_pinned_by_the_fingerprint_it_prints()
    {
        var directory = Directory.CreateTempSubdirectory("mesh-registry-process-tls-").FullName;
        try
        {
            await using var registry = await RegistryProcess.StartAsync(new Dictionary<string, string>
            {
                ["MeshRegistry__DataPath"] = Path.Combine(directory, "registry.db"),
                ["MeshRegistry__AdminToken"] = RegistryHost.AdminToken,
                ["MeshRegistry__JoinTokens__reviews"] = RegistryHost.ReviewsToken,
            }, https: true);
            var fingerprint = registry.Fingerprint.ShouldNotBeNull(registry.Output);
            fingerprint.ShouldMatch("^sha256:[0-9a-f]{64}$");

            // The workloads' transport, pinned by the printed fingerprint: the token works over it.
            using (var reviews = registry.PinnedClient(RegistryHost.ReviewsToken, fingerprint))
            {
                using var registered = await reviews.RegisterAsync("reviews", "r1", "http://10.0.0.1:80");
                registered.StatusCode.ShouldBe(HttpStatusCode.Created);
            }

            // Pinned by another fingerprint: refused before anything is sent.
            using (var wrong = registry.PinnedClient(RegistryHost.ReviewsToken, "sha256:" + new string('0', 64)))
            {
                var refused = await Should.ThrowAsync<HttpRequestException>(() => wrong.GetAsync(new Uri("/v1/services", UriKind.Relative)));
                refused.Message.ShouldContain("is not the pinned one");
            }

            // The command line: pinned, it works; unpinned, it says what to do.
            var policy = Path.Combine(directory, "policy.json");
            await File.WriteAllTextAsync(policy, """{ "LoadBalancer": { "Policy": "RoundRobin" } }""");
            var output = new StringWriter();
            var error = new StringWriter();
            (await Cli.RegistryCli.RunAsync(["policy", "apply", policy, "-s", "reviews", "--registry", registry.Address.ToString(), "--token", RegistryHost.AdminToken,
                "--ca-fingerprint", fingerprint], output, error, _ => null)).ShouldBe(Cli.PolicyCli.Ok, error.ToString());
            error = new StringWriter();
            (await Cli.RegistryCli.RunAsync(["policy", "get", "-s", "reviews", "--registry", registry.Address.ToString(), "--token", RegistryHost.AdminToken],
                output, error, _ => null)).ShouldBe(Cli.PolicyCli.Usage);
            error.ToString().ShouldContain("the registry's CA must be pinned: --ca-fingerprint");
            error = new StringWriter();
            (await Cli.RegistryCli.RunAsync(["policy", "get", "-s", "reviews", "--registry", "http://10.0.0.1:7400", "--token", RegistryHost.AdminToken],
                output, error, _ => null)).ShouldBe(Cli.PolicyCli.Usage);
            error.ToString().ShouldContain("is plain http to a host that is not a loopback address");
        }
        finally
        {
            RegistryHost.DeleteDirectory(directory);
        }
    }

    /// <summary>A first certificate for the token's service, asked for over HTTPS with the token.</summary>
    internal static async Task<X509Certificate2> BootstrapAsync(RegistryHost host, string token)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var client = host.Client(token);
        using var response = await client.PostAsync(new Uri("/v1/certificates", UriKind.Relative),
            Api.Json(JsonSerializer.Serialize(new { csr = CertificateAuthorityTests.Csr(key, null) })));
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        using var doc = JsonDocument.Parse(body);
        using var certificate = X509Certificate2.CreateFromPem(doc.RootElement.GetProperty("certificate").GetString()!);
        return certificate.CopyWithPrivateKey(key);
    }

    /// <summary>One TLS handshake with the registry: the certificate it serves (not trusted here, only looked at).</summary>
    private static async Task<(X509Certificate2 Leaf, bool Handshaken)> HandshakeAsync(Uri address, X509Certificate2? clientCertificate)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null,
            LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate!,
        });
        return (X509CertificateLoader.LoadCertificate(tls.RemoteCertificate!.GetRawCertData()), tls.IsAuthenticated);
    }
}
