using System.Diagnostics.Metrics;
using System.Net;
using Mesh.AspNetCore.Security;
using Mesh.Client;
using Mesh.Client.Security;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.IntegrationTests;

/// <summary>
/// mTLS and authorization on real Kestrel servers over loopback TLS, with certificates from an in-process test CA.
/// Each refusal of the acceptance list is its own test.
/// </summary>
public sealed class SecurityTests : IDisposable
{
    private readonly TestCertificateAuthority _ca = new();

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task MeshCallUsesMutualTlsAndTheCallerBecomesTheAuthenticatedPrincipal()
    {
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict);
        await using var client = CreateClient("productpage", MeshSecurityMode.Strict, ("reviews", reviews));

        var body = await client.Client.GetStringAsync(new Uri("http://reviews/who"));

        body.ShouldBe("reviews: productpage spiffe://mesh.local/svc/productpage MeshMutualTls tls=True");
    }

    [Fact]
    public async Task StrictServerRefusesAClientWithoutCertificate()
    {
        IServiceProvider? server = null;
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, capture: sp => server = sp);
        using var rejected = Collect(server!, "mesh.tls.peer_rejected");
        using var http = new HttpClient(TestCertificateAuthority.CreateUncheckedHandler(null));

        await Should.ThrowAsync<HttpRequestException>(() => http.GetStringAsync(Https(reviews)));

        await Poll.UntilAsync(() => Rejected(rejected, "server", "no-certificate") > 0, because: "the server counts the refusal");
        reviews.Requests.ShouldBe(0);
    }

    [Fact]
    public async Task ServerRefusesACertificateFromAnotherCa()
    {
        using var other = new TestCertificateAuthority(name: "other");
        IServiceProvider? server = null;
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, capture: sp => server = sp);
        using var rejected = Collect(server!, "mesh.tls.peer_rejected");
        using var certificate = other.IssueWorkload("productpage");
        using var http = new HttpClient(TestCertificateAuthority.CreateUncheckedHandler(certificate));

        await Should.ThrowAsync<HttpRequestException>(() => http.GetStringAsync(Https(reviews)));

        await Poll.UntilAsync(() => Rejected(rejected, "server", "untrusted") > 0, because: "the server counts the refusal");
        reviews.Requests.ShouldBe(0);
    }

    [Fact]
    public async Task ServerRefusesAnExpiredCertificate()
    {
        IServiceProvider? server = null;
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, capture: sp => server = sp);
        using var rejected = Collect(server!, "mesh.tls.peer_rejected");
        using var certificate = _ca.IssueExpired("productpage");
        using var http = new HttpClient(TestCertificateAuthority.CreateUncheckedHandler(certificate));

        await Should.ThrowAsync<HttpRequestException>(() => http.GetStringAsync(Https(reviews)));

        await Poll.UntilAsync(() => Rejected(rejected, "server", "expired") > 0, because: "the server counts the refusal");
        reviews.Requests.ShouldBe(0);
    }

    [Fact]
    public async Task StrictServerRefusesPlaintext()
    {
        IServiceProvider? server = null;
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, capture: sp => server = sp);
        using var rejected = Collect(server!, "mesh.tls.peer_rejected");
        using var http = new HttpClient();

        await Should.ThrowAsync<HttpRequestException>(() => http.GetStringAsync(reviews.Address));

        await Poll.UntilAsync(() => Rejected(rejected, "server", "plaintext") > 0, because: "the server counts the refusal");
        reviews.Requests.ShouldBe(0);
    }

    [Fact]
    public async Task AnIdentityADenyRuleNamesGetsA403Problem()
    {
        IServiceProvider? server = null;
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, capture: sp => server = sp, configure: o =>
        {
            o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, From = ["*"] });
            o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, From = ["productpage"], Paths = ["/admin/*"] });
        });
        using var deniedCounter = Collect(server!, "mesh.authz.denied");
        await using var client = CreateClient("productpage", MeshSecurityMode.Strict, ("reviews", reviews));

        using var denied = await client.Client.GetAsync(new Uri("http://reviews/admin/users"));
        denied.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        denied.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await denied.Content.ReadAsStringAsync()).ShouldContain("productpage");

        // DENY wins over the ALLOW that also matches; other paths stay allowed.
        using var allowed = await client.Client.GetAsync(new Uri("http://reviews/reviews/1"));
        allowed.StatusCode.ShouldBe(HttpStatusCode.OK);
        deniedCounter.Sum(t => t["source_service"] == "productpage").ShouldBe(1);
    }

    [Fact]
    public async Task AnIdentityNoAllowRuleNamesGetsA403()
    {
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, o =>
            o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, From = ["details"], Methods = ["GET"] }));
        await using var productpage = CreateClient("productpage", MeshSecurityMode.Strict, ("reviews", reviews));
        await using var details = CreateClient("details", MeshSecurityMode.Strict, ("reviews", reviews));

        using var denied = await productpage.Client.GetAsync(new Uri("http://reviews/reviews/1"));
        denied.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        denied.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");

        using var allowed = await details.Client.GetAsync(new Uri("http://reviews/reviews/1"));
        allowed.StatusCode.ShouldBe(HttpStatusCode.OK);
        using var wrongMethod = await details.Client.PostAsync(new Uri("http://reviews/reviews/1"), null);
        wrongMethod.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task TheServicesOwnPolicyRulesApplyWithTheLocalOnes()
    {
        // This service's policy (as the registry would serve it) denies ratings; local rules allow everyone else.
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, o =>
        {
            o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, From = ["*"] });
            o.Services["reviews"] = new ServicePolicyOptions
            {
                Authorization = [new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, From = ["ratings"] }],
            };
        });
        await using var ratings = CreateClient("ratings", MeshSecurityMode.Strict, ("reviews", reviews));
        await using var productpage = CreateClient("productpage", MeshSecurityMode.Strict, ("reviews", reviews));

        (await ratings.Client.GetAsync(new Uri("http://reviews/reviews/1"))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await productpage.Client.GetAsync(new Uri("http://reviews/reviews/1"))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ClientRefusesAServerWithAValidCertificateForAnotherService()
    {
        // A genuine mesh server, but it is ratings, listed as an endpoint of reviews.
        await using var ratings = await StartServiceAsync("ratings", MeshSecurityMode.Strict);
        await using var client = CreateClient("productpage", MeshSecurityMode.Strict, ("reviews", ratings));
        using var rejected = Collect(client.Services, "mesh.tls.peer_rejected");

        var ex = await Should.ThrowAsync<HttpRequestException>(() => client.Client.GetStringAsync(new Uri("http://reviews/reviews/1")));

        ex.ToString().ShouldContain("RemoteCertificateValidationCallback");
        Rejected(rejected, "client", "wrong-service").ShouldBeGreaterThan(0);
        ratings.Requests.ShouldBe(0);
    }

    [Fact]
    public async Task PermissiveServerTakesPlaintextAndMutualTlsOnOnePort()
    {
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Permissive);
        await using var meshClient = CreateClient("productpage", MeshSecurityMode.Permissive, ("reviews", reviews));
        using var plain = new HttpClient();

        (await plain.GetStringAsync(new Uri(reviews.Address, "/who"))).ShouldBe("reviews: anonymous - - tls=False");
        (await meshClient.Client.GetStringAsync(new Uri("http://reviews/who"))).ShouldBe("reviews: productpage spiffe://mesh.local/svc/productpage MeshMutualTls tls=True");
    }

    [Fact]
    public async Task DryRunLogsWhatItWouldDenyAndServesIt()
    {
        IServiceProvider? server = null;
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, capture: sp => server = sp, configure: o =>
        {
            o.Security.AuthorizationDryRun = true;
            o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, From = ["productpage"] });
        });
        using var deniedCounter = Collect(server!, "mesh.authz.denied");
        await using var client = CreateClient("productpage", MeshSecurityMode.Strict, ("reviews", reviews));

        using var response = await client.Client.GetAsync(new Uri("http://reviews/reviews/1"));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        deniedCounter.Sum(t => t["source_service"] == "productpage" && t["dry_run"] == "True").ShouldBe(1);
    }

    [Fact]
    public async Task ARenewedServerCertificateServesNewConnectionsWithoutRestart()
    {
        TestWorkloadIdentity? identity = null;
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, capture: sp => identity = sp.GetRequiredService<TestWorkloadIdentity>());
        using var clientCertificate = _ca.IssueWorkload("productpage");
        var first = await ServerSerialAsync(reviews, clientCertificate);
        first.ShouldBe(identity!.Certificate.SerialNumber);

        identity.Renew();

        var second = await ServerSerialAsync(reviews, clientCertificate);
        second.ShouldBe(identity.Certificate.SerialNumber);
        second.ShouldNotBe(first);
    }

    [Fact]
    public async Task StrictWithoutAnIdentityFailsTheStartInsteadOfServingPlaintext()
    {
        var ex = await Should.ThrowAsync<InvalidOperationException>(() => TestBackend.StartAsync("reviews",
            services: s => s.AddMesh(o =>
            {
                o.Service.Name = "reviews";
                o.Security.Mode = MeshSecurityMode.Strict;
            }),
            configure: app => app.UseMesh()));

        ex.Message.ShouldStartWith("Mesh:Security:Mode: Strict needs a workload identity");
    }

    [Fact]
    public async Task AMalformedHandshakeIsRefusedAndTheServerKeepsServing()
    {
        IServiceProvider? server = null;
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, capture: sp => server = sp);
        using var rejected = Collect(server!, "mesh.tls.peer_rejected");
        using (var socket = new System.Net.Sockets.TcpClient())
        {
            await socket.ConnectAsync(IPAddress.Loopback, reviews.Address.Port);
            var stream = socket.GetStream();
            var junk = new byte[64 * 1024];
            new Random(7).NextBytes(junk);
            junk[0] = 0x16; // looks like a TLS handshake record, is not one
            try
            {
                await stream.WriteAsync(junk);
                var buffer = new byte[1024];
                while (await stream.ReadAsync(buffer) > 0)
                {
                }
            }
            catch (IOException)
            {
                // the server may reset the connection while we still write: refused either way
            }
        }

        await Poll.UntilAsync(() => Rejected(rejected, "server", "handshake-failed") > 0, because: "the server refuses the garbage");
        await using var client = CreateClient("productpage", MeshSecurityMode.Strict, ("reviews", reviews));
        (await client.Client.GetStringAsync(new Uri("http://reviews/who"))).ShouldStartWith("reviews: productpage");
    }

    [Fact]
    public async Task Http2RunsOverMeshTls()
    {
        await using var reviews = await StartServiceAsync("reviews", MeshSecurityMode.Strict, protocols: HttpProtocolsOption.Http2);
        await using var client = CreateClient("productpage", MeshSecurityMode.Strict, ("reviews", reviews));
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("http://reviews/who"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        using var response = await client.Client.SendAsync(request);

        response.Version.ShouldBe(HttpVersion.Version20);
        (await response.Content.ReadAsStringAsync()).ShouldBe("reviews: productpage spiffe://mesh.local/svc/productpage MeshMutualTls tls=True");
    }

    private async Task<string> ServerSerialAsync(TestBackend backend, System.Security.Cryptography.X509Certificates.X509Certificate2 clientCertificate)
    {
        string? serial = null;
        var handler = _ca.CreateDirectHandler(clientCertificate, "reviews");
        var check = handler.SslOptions.RemoteCertificateValidationCallback!;
        handler.SslOptions.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
        {
            serial = certificate?.GetSerialNumberString();
            return check(sender, certificate, chain, errors);
        };
        using var http = new HttpClient(handler);
        (await http.GetAsync(Https(backend))).StatusCode.ShouldBe(HttpStatusCode.OK);
        return serial!;
    }

    private static long Rejected(MetricCollector<long> rejected, string side, string reason) =>
        rejected.Sum(t => t["side"] == side && t["reason"] == reason);

    /// <summary>One of the security instruments of one host or client only (its meter factory is the meter's scope).</summary>
    private static MetricCollector<long> Collect(IServiceProvider services, string instrument) =>
        new(services.GetRequiredService<IMeterFactory>(), MeshSecurity.MeterName, instrument);

    private static Uri Https(TestBackend backend) => new($"https://127.0.0.1:{backend.Address.Port}/");

    private Task<TestBackend> StartServiceAsync(string name, MeshSecurityMode mode, Action<MeshOptions>? configure = null,
        Action<IServiceProvider>? capture = null, HttpProtocolsOption protocols = HttpProtocolsOption.Http1) =>
        TestBackend.StartAsync(name,
            handler: context =>
            {
                var user = context.User;
                var spiffe = user.FindFirst(MeshClaims.SpiffeId)?.Value ?? "-";
                var who = user.Identity?.IsAuthenticated == true ? user.Identity.Name : "anonymous";
                return context.Response.WriteAsync(
                    $"{name}: {who} {spiffe} {user.Identity?.AuthenticationType ?? "-"} tls={context.Connection.ClientCertificate is not null}");
            },
            services: services =>
            {
                services.AddMesh(o =>
                {
                    o.Service.Name = name;
                    o.Security.Mode = mode;
                    configure?.Invoke(o);
                });
                services.AddTestCertificateAuthority(_ca, name);
            },
            configure: app =>
            {
                capture?.Invoke(app.Services);
                app.UseMesh();
            },
            protocols: protocols);

    private MeshTestClient CreateClient(string name, MeshSecurityMode mode, params (string Service, TestBackend Backend)[] services)
    {
        var map = new Dictionary<string, object>();
        foreach (var (service, backend) in services)
        {
            map[service] = new { Endpoints = new[] { new { Address = Https(backend).ToString() } } };
        }

        return MeshTestClient.Create(new { Service = new { Name = name }, Security = new { Mode = mode.ToString() }, Services = map },
            configure: s => s.AddTestCertificateAuthority(_ca, name));
    }
}
