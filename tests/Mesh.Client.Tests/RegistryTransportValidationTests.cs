using System.Text;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests;

/// <summary>How the registry may be reached: pinned https anywhere, plain http on loopback only unless allowed.</summary>
public sealed class RegistryTransportValidationTests
{
    private const string Pin = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private static List<string> Errors(string registryJson)
    {
        var config = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("{ \"Mesh\": { \"Service\": { \"Name\": \"reviews\" }, \"Registry\": " + registryJson + " } }")))
            .Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);
        return PolicyValidator.Validate(options);
    }

    [Theory]
    [InlineData("http://registry.internal:7400")]
    [InlineData("http://10.0.0.5:7400")]
    [InlineData("http://[2001:db8::1]:7400")]
    [InlineData("http://128.0.0.1:7400")]
    public void Plain_http_to_a_host_that_is_not_loopback_fails_naming_the_url_key(string url)
    {
        var error = Errors($$"""{ "Url": "{{url}}" }""").ShouldHaveSingleItem();
        error.ShouldStartWith($"Mesh:Registry:Url: '{new Uri(url)}' is plain http to a host that is not a loopback address");
        error.ShouldContain("Mesh:Registry:AllowInsecure");
    }

    [Fact]
    public void Plain_http_to_any_host_is_accepted_with_AllowInsecure()
    {
        Errors("""{ "Url": "http://registry.internal:7400", "AllowInsecure": true }""").ShouldBeEmpty();
    }

    [Theory]
    [InlineData("http://127.0.0.1:7400")]
    [InlineData("http://127.8.9.10:7400")]
    [InlineData("http://[::1]:7400")]
    [InlineData("http://localhost:7400")]
    [InlineData("http://LOCALHOST:7400")]
    public void Plain_http_to_loopback_is_accepted(string url)
    {
        Errors($$"""{ "Url": "{{url}}" }""").ShouldBeEmpty();
    }

    [Fact]
    public void Https_needs_a_pin_and_takes_a_fingerprint_or_a_ca_file()
    {
        Errors("""{ "Url": "https://registry.internal:7400" }""").ShouldHaveSingleItem()
            .ShouldStartWith("Mesh:Registry:Url: 'https://registry.internal:7400/' is https, so the registry's CA must be pinned: set Mesh:Registry:CaFingerprint");
        Errors($$"""{ "Url": "https://registry.internal:7400", "CaFingerprint": "{{Pin}}" }""").ShouldBeEmpty();
        Errors($$"""{ "Url": "https://registry.internal:7400", "CaFingerprint": "{{Pin.ToUpperInvariant().Replace("SHA256", "sha256", StringComparison.Ordinal)}}" }""").ShouldBeEmpty();

        var file = Path.GetTempFileName();
        try
        {
            using var ca = new Mesh.Testing.TestCertificateAuthority();
            File.WriteAllText(file, ca.Root.ExportCertificatePem());
            Errors($$"""{ "Url": "https://registry.internal:7400", "CaFile": "{{file}}" }""").ShouldBeEmpty();
            File.WriteAllText(file, "not a certificate");
            Errors($$"""{ "Url": "https://registry.internal:7400", "CaFile": "{{file}}" }""").ShouldHaveSingleItem()
                .ShouldBe($"Mesh:Registry:CaFile: {file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("sha1:0123456789abcdef0123456789abcdef01234567")]
    [InlineData("sha256:0123")]
    [InlineData("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg")]
    public void A_malformed_fingerprint_fails_with_its_path(string fingerprint)
    {
        Errors($$"""{ "Url": "https://registry.internal:7400", "CaFingerprint": "{{fingerprint}}" }""").ShouldHaveSingleItem()
            .ShouldStartWith($"Mesh:Registry:CaFingerprint: '{fingerprint}' must be 'sha256:' and 64 hex digits");
    }

    [Fact]
    public void Unknown_registry_keys_are_still_errors()
    {
        Errors("""{ "Url": "http://127.0.0.1:7400", "CaFingerprnt": "x" }""").ShouldContain(e => e.Contains("Mesh:Registry:CaFingerprnt", StringComparison.Ordinal));
    }
}
