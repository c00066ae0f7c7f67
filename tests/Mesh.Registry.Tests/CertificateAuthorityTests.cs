using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Mesh.Client.Security;
using Mesh.Registry.Ca;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Registry.Tests;

public sealed class CertificateAuthorityTests
{
    [Fact]
    public async Task CaKeyFileHasMode0600InA0700Folder()
    {
        await using var host = await RegistryHost.StartAsync();
        var ca = host.App.Services.GetRequiredService<CertificateAuthority>();
        var key = ca.KeyPath(ca.ActiveRootId);
        File.Exists(key).ShouldBeTrue();
        ca.Directory.ShouldBe(Path.Combine(host.Directory, "ca"));
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(key).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.GetUnixFileMode(ca.Directory).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        // A root added later is written the same way.
        using var added = await host.Admin.PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null);
        added.StatusCode.ShouldBe(HttpStatusCode.Created);
        var id = (await added.ReadJsonAsync()).GetProperty("id").GetString()!;
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(ca.KeyPath(id)).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    [Fact]
    public async Task JoinTokenGetsACertificateForItsOwnServiceThatChainsToTheTrustBundle()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await RegistryHost.StartAsync(time);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        // The CSR names no identity: the token decides it.
        var answer = await SignAsync(host.Client(RegistryHost.ReviewsToken), Csr(key, san: null));
        answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
        using var certificate = X509Certificate2.CreateFromPem(answer.Json.GetProperty("certificate").GetString()!);
        SpiffeId.UrisOf(certificate).ShouldBe(["spiffe://mesh.local/svc/reviews"]);
        answer.Json.GetProperty("spiffeId").GetString().ShouldBe("spiffe://mesh.local/svc/reviews");
        certificate.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().ShouldBe(key.ExportSubjectPublicKeyInfo());
        certificate.NotAfter.ToUniversalTime().ShouldBe(time.GetUtcNow().UtcDateTime.AddHours(24), TimeSpan.FromSeconds(1));

        var bundle = answer.Json.GetProperty("trustBundle").EnumerateArray().Select(r => X509Certificate2.CreateFromPem(r.GetString()!)).ToList();
        bundle.Count.ShouldBe(1);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(bundle.ToArray());
        chain.ChainPolicy.VerificationTime = time.GetUtcNow().UtcDateTime;
        chain.Build(certificate).ShouldBeTrue(string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation)));

        // The trust bundle endpoint serves the same roots.
        var trust = await host.Client(RegistryHost.RatingsToken).GetJsonAsync("/v1/trust-bundle");
        trust.GetProperty("roots").EnumerateArray().Select(r => r.GetString()).ShouldBe([bundle[0].ExportCertificatePem()]);
        trust.GetProperty("trustDomain").GetString().ShouldBe("mesh.local");
    }

    [Fact]
    public async Task ReviewsTokenCannotGetACertificateForRatings()
    {
        await using var host = await RegistryHost.StartAsync();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var reviews = host.Client(RegistryHost.ReviewsToken);

        // A CSR that asks for ratings' identity is refused, not corrected.
        var forged = await SignAsync(reviews, Csr(key, san: "spiffe://mesh.local/svc/ratings"));
        forged.StatusCode.ShouldBe(HttpStatusCode.Forbidden, forged.Body);
        forged.Body.ShouldContain("spiffe://mesh.local/svc/ratings");

        // Naming ratings in the body is refused too.
        var named = await SignAsync(reviews, Csr(key, san: null), service: "ratings");
        named.StatusCode.ShouldBe(HttpStatusCode.Forbidden, named.Body);

        // Nor may it register as ratings.
        using var register = await reviews.RegisterAsync("ratings", "x1", "https://127.0.0.1:6001");
        register.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await host.Admin.InstanceIdsAsync("ratings")).ShouldBeEmpty();

        // Its own identity, asked for explicitly, is fine; the admin token may sign for any service it names.
        (await SignAsync(reviews, Csr(key, san: "spiffe://mesh.local/svc/reviews"))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var admin = await SignAsync(host.Admin, Csr(key, san: null), service: "ratings");
        admin.StatusCode.ShouldBe(HttpStatusCode.OK, admin.Body);
        admin.Json.GetProperty("spiffeId").GetString().ShouldBe("spiffe://mesh.local/svc/ratings");
        (await SignAsync(host.Admin, Csr(key, san: null))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task CsrAskingForMoreThanItsSpiffeIdIsRefusedNotCorrected()
    {
        await using var host = await RegistryHost.StartAsync();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var reviews = host.Client(RegistryHost.ReviewsToken);

        // Names beside the SPIFFE ID (another service's host name, the registry's, an address), or a request to be a
        // CA: the certificate would never carry them, so asking is a confused or hostile workload, to be noticed.
        string Asking(Action<SubjectAlternativeNameBuilder>? names, X509Extension? extension = null)
        {
            var request = new CertificateRequest("CN=reviews", key, HashAlgorithmName.SHA256);
            if (names is not null)
            {
                var builder = new SubjectAlternativeNameBuilder();
                names(builder);
                request.CertificateExtensions.Add(builder.Build());
            }

            if (extension is not null)
            {
                request.CertificateExtensions.Add(extension);
            }

            return request.CreateSigningRequestPem();
        }

        var own = new Uri("spiffe://mesh.local/svc/reviews");
        string[] refused =
        [
            Asking(b => b.AddDnsName("ratings")),
            Asking(b => { b.AddUri(own); b.AddDnsName("localhost"); }),
            Asking(b => { b.AddUri(own); b.AddIpAddress(IPAddress.Loopback); }),
            Asking(b => { b.AddUri(own); b.AddEmailAddress("admin@mesh.local"); }),
            Asking(null, new X509BasicConstraintsExtension(true, false, 0, true)),
            Asking(b => b.AddUri(own), new X509BasicConstraintsExtension(true, true, 0, true)),
        ];
        foreach (var csr in refused)
        {
            var answer = await SignAsync(reviews, csr);
            answer.StatusCode.ShouldBe(HttpStatusCode.Forbidden, answer.Body);
        }

        // Its own SPIFFE ID alone, and a request that says it is not a CA, are what a workload sends.
        (await SignAsync(reviews, Asking(b => b.AddUri(own), new X509BasicConstraintsExtension(false, false, 0, true)))).StatusCode
            .ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task BadRequestsAreRefusedWithTheirReason()
    {
        await using var host = await RegistryHost.StartAsync();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var reviews = host.Client(RegistryHost.ReviewsToken);

        // Without a token, or with a wrong one.
        (await SignAsync(host.Client(null), Csr(key, null))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await SignAsync(host.Client("not-a-token"), Csr(key, null))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        // A CSR whose signature does not verify: the requester does not hold the key it asks a certificate for.
        var genuine = Csr(key, null);
        var bytes = Convert.FromBase64String(genuine[PemEncoding.Find(genuine).Base64Data]);
        bytes[^1] ^= 0x01;
        var tampered = PemEncoding.WriteString("CERTIFICATE REQUEST", bytes);
        var bad = await SignAsync(reviews, tampered);
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest, bad.Body);
        bad.Body.ShouldContain("csr");

        // Garbage, a certificate instead of a request, a small RSA key, a body over the limit, JSON that is not an object.
        (await SignAsync(reviews, "hello")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var self = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        (await SignAsync(reviews, self.ExportCertificatePem())).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var rsa = RSA.Create(1024);
        var small = new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequestPem();
        var smallAnswer = await SignAsync(reviews, small);
        smallAnswer.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        smallAnswer.Body.ShouldContain("2048");
        (await SignAsync(reviews, new string('A', CaEndpoints.MaxCertificateRequestBytes + 10))).StatusCode.ShouldBe(HttpStatusCode.RequestEntityTooLarge);
        using var notObject = await reviews.PostAsync(new Uri("/v1/certificates", UriKind.Relative), Api.Json("[1,2]"));
        notObject.StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        // Join tokens may not touch the roots.
        using var roots = await reviews.PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null);
        roots.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        using var list = await reviews.GetAsync(new Uri("/v1/ca/roots", UriKind.Relative));
        list.StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        // Nothing secret reached the log: no key, no token.
        (await SignAsync(reviews, Csr(key, null))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var logs = host.Logs.AllText() + host.Console;
        logs.ShouldNotContain("PRIVATE KEY");
        logs.ShouldNotContain(RegistryHost.ReviewsToken);
        logs.ShouldNotContain(RegistryHost.AdminToken);
        logs.ShouldContain("spiffe://mesh.local/svc/reviews"); // the signing itself is logged
    }

    [Fact]
    public async Task CertificateLifetimeIsConfigurableDownToAMinute()
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using (var host = await RegistryHost.StartAsync(time, s => s["MeshRegistry:CertificateLifetime"] = "00:01:00"))
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var answer = await SignAsync(host.Client(RegistryHost.ReviewsToken), Csr(key, null));
            answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
            answer.Json.GetProperty("notAfter").GetDateTimeOffset().ShouldBe(time.GetUtcNow() + TimeSpan.FromMinutes(1));
        }

        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:CertificateLifetime"] = "00:00:30",
        });
        errors.ShouldContain("MeshRegistry:CertificateLifetime: 00:00:30 must be between 00:01:00 and 30.00:00:00");
    }

    [Fact]
    public async Task RootRotationThroughTheAdminApiWithTheTrustBundleWatched()
    {
        await using var host = await RegistryHost.StartAsync();
        var admin = host.Admin;
        var reader = host.Client(RegistryHost.RatingsToken);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var first = await admin.GetJsonAsync("/v1/ca/roots");
        var oldId = first.GetProperty("roots")[0].GetProperty("id").GetString()!;
        first.GetProperty("roots")[0].GetProperty("active").GetBoolean().ShouldBeTrue();
        first.GetProperty("roots")[0].GetProperty("certificate").GetString()!.ShouldNotContain("PRIVATE");
        var index = (await reader.GetJsonAsync("/v1/trust-bundle")).GetProperty("index").GetInt64();

        // A watch at the current index answers with the change (at once if the change beat it to the registry).
        var watch = reader.GetJsonAsync($"/v1/trust-bundle?index={index}&wait=30s");
        using var added = await admin.PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null);
        var newId = (await added.ReadJsonAsync()).GetProperty("id").GetString()!;
        var changed = await watch;
        changed.GetProperty("index").GetInt64().ShouldBeGreaterThan(index);
        changed.GetProperty("roots").GetArrayLength().ShouldBe(2);

        // Both trusted; the old root still signs until the new one is activated.
        (await IssuerOfNewCertificateAsync(host, key)).ShouldContain(oldId);
        using (var activate = await admin.PostAsync(new Uri($"/v1/ca/roots/{newId}/activate", UriKind.Relative), null))
        {
            activate.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        (await IssuerOfNewCertificateAsync(host, key)).ShouldContain(newId);

        // The active root cannot be removed; the old one can, and the bundle drops it.
        using (var refuse = await admin.DeleteAsync(new Uri($"/v1/ca/roots/{newId}", UriKind.Relative)))
        {
            await refuse.ProblemAsync(HttpStatusCode.Conflict);
        }

        using (var remove = await admin.DeleteAsync(new Uri($"/v1/ca/roots/{oldId}", UriKind.Relative)))
        {
            remove.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        (await reader.GetJsonAsync("/v1/trust-bundle")).GetProperty("roots").GetArrayLength().ShouldBe(1);
        File.Exists(host.App.Services.GetRequiredService<CertificateAuthority>().KeyPath(oldId)).ShouldBeFalse();
        using (var missing = await admin.PostAsync(new Uri("/v1/ca/roots/0123456789abcdef/activate", UriKind.Relative), null))
        {
            await missing.ProblemAsync(HttpStatusCode.NotFound);
        }
    }

    [Fact]
    public async Task RestartKeepsTheRootsAndWhichOneSigns()
    {
        await using var host = await RegistryHost.StartAsync();
        using var added = await host.Admin.PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null);
        var newId = (await added.ReadJsonAsync()).GetProperty("id").GetString()!;
        (await host.Admin.PostAsync(new Uri($"/v1/ca/roots/{newId}/activate", UriKind.Relative), null)).Dispose();
        var before = (await host.Admin.GetJsonAsync("/v1/ca/roots")).GetRawText();

        await host.RestartAsync();

        (await host.Admin.GetJsonAsync("/v1/ca/roots")).GetRawText().ShouldBe(before);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        (await IssuerOfNewCertificateAsync(host, key)).ShouldContain(newId);
    }

    private static async Task<string> IssuerOfNewCertificateAsync(RegistryHost host, ECDsa key)
    {
        var answer = await SignAsync(host.Client(RegistryHost.ReviewsToken), Csr(key, null));
        answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
        using var certificate = X509Certificate2.CreateFromPem(answer.Json.GetProperty("certificate").GetString()!);
        return certificate.Issuer;
    }

    internal static string Csr(ECDsa key, string? san)
    {
        var request = new CertificateRequest("CN=workload", key, HashAlgorithmName.SHA256);
        if (san is not null)
        {
            var builder = new SubjectAlternativeNameBuilder();
            builder.AddUri(new Uri(san));
            request.CertificateExtensions.Add(builder.Build());
        }

        return request.CreateSigningRequestPem();
    }

    internal static async Task<(HttpStatusCode StatusCode, string Body, JsonElement Json)> SignAsync(HttpClient client, string csr, string? service = null)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, string?> { ["csr"] = csr, ["service"] = service });
        using var response = await client.PostAsync(new Uri("/v1/certificates", UriKind.Relative), Api.Json(body));
        var text = await response.Content.ReadAsStringAsync();
        JsonElement json = default;
        if (response.IsSuccessStatusCode)
        {
            using var doc = JsonDocument.Parse(text);
            json = doc.RootElement.Clone();
        }

        return (response.StatusCode, text, json);
    }
}
