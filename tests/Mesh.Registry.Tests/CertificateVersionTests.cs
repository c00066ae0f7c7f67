using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Security;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>The workload's version in its certificate: the subject's one OU, validated like a service name.</summary>
public sealed class CertificateVersionTests
{
    [Fact]
    public async Task A_configured_token_gets_the_version_its_csr_names_in_the_subject_and_the_spiffe_id_stays_the_only_uri()
    {
        await using var host = await RegistryHost.StartAsync();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var answer = await CertificateAuthorityTests.SignAsync(host.Client(RegistryHost.ReviewsToken), Csr(key, "CN=reviews, OU=v2"));
        answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
        using var certificate = X509Certificate2.CreateFromPem(answer.Json.GetProperty("certificate").GetString()!);
        WorkloadVersion.Of(certificate).ShouldBe("v2");
        SpiffeId.UrisOf(certificate).ShouldBe(["spiffe://mesh.local/svc/reviews"]);
        certificate.Subject.ShouldContain("CN=reviews");

        // No OU: a certificate without a version, which peers report as unknown.
        var plain = await CertificateAuthorityTests.SignAsync(host.Client(RegistryHost.ReviewsToken), Csr(key, "CN=reviews"));
        plain.StatusCode.ShouldBe(HttpStatusCode.OK, plain.Body);
        using var unversioned = X509Certificate2.CreateFromPem(plain.Json.GetProperty("certificate").GetString()!);
        WorkloadVersion.Of(unversioned).ShouldBeNull();

        // The admin token signs for the service it names, with the CSR's version.
        var admin = await CertificateAuthorityTests.SignAsync(host.Admin, Csr(key, "CN=x, OU=canary-3"), "ratings");
        admin.StatusCode.ShouldBe(HttpStatusCode.OK, admin.Body);
        using var adminCertificate = X509Certificate2.CreateFromPem(admin.Json.GetProperty("certificate").GetString()!);
        WorkloadVersion.Of(adminCertificate).ShouldBe("canary-3");
    }

    [Theory]
    [InlineData("CN=reviews, OU=v1, OU=v2")]
    [InlineData("CN=reviews, OU=\"v1 } injected\"")]
    [InlineData("CN=reviews, OU=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task A_csr_with_several_versions_or_one_that_is_not_a_name_is_refused_with_its_field(string subject)
    {
        await using var host = await RegistryHost.StartAsync();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var answer = await CertificateAuthorityTests.SignAsync(host.Client(RegistryHost.ReviewsToken), Csr(key, subject));
        answer.StatusCode.ShouldBe(HttpStatusCode.BadRequest, answer.Body);
        answer.Body.ShouldContain("\"csr\"");
        answer.Body.ShouldContain("version");
    }

    internal static string Csr(ECDsa key, string subject) =>
        new CertificateRequest(subject, key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
}
