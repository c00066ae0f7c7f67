using System.Text;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests.Registry;

/// <summary><c>Mesh:Registry:Urls</c>: the registry's replicas, checked with every error's path.</summary>
public sealed class RegistryReplicaValidationTests
{
    private static List<string> Errors(string registryJson)
    {
        var config = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("{ \"Mesh\": { \"Service\": { \"Name\": \"reviews\" }, \"Registry\": " + registryJson + " } }")))
            .Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);
        return PolicyValidator.Validate(options);
    }

    private static MeshOptions Read(string registryJson)
    {
        var config = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("{ \"Mesh\": { \"Registry\": " + registryJson + " } }")))
            .Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);
        return options;
    }

    [Fact]
    public void Replicas_on_loopback_are_accepted_in_their_order()
    {
        Errors("""{ "Urls": [ "http://127.0.0.1:7401", "http://127.0.0.2:7402/" ] }""").ShouldBeEmpty();
        var registry = Read("""{ "Urls": [ "http://127.0.0.1:7401", "http://127.0.0.2:7402/" ] }""").Registry;
        registry.IsConfigured.ShouldBeTrue();
        registry.Replicas.ShouldBe([new Uri("http://127.0.0.1:7401/"), new Uri("http://127.0.0.2:7402/")]);
    }

    [Fact]
    public void A_single_url_is_one_replica()
    {
        var registry = Read("""{ "Url": "http://127.0.0.1:7401" }""").Registry;
        registry.Replicas.ShouldBe([new Uri("http://127.0.0.1:7401/")]);
        Read("{ }").Registry.IsConfigured.ShouldBeFalse();
    }

    [Fact]
    public void Url_and_Urls_together_are_refused()
    {
        Errors("""{ "Url": "http://127.0.0.1:7400", "Urls": [ "http://127.0.0.1:7401" ] }""").ShouldHaveSingleItem()
            .ShouldBe("Mesh:Registry:Urls: set Mesh:Registry:Url (one registry) or Mesh:Registry:Urls (its replicas), not both");
    }

    [Theory]
    [InlineData("""{ "Urls": [] }""")]
    [InlineData("""{ "Urls": "" }""")]
    public void An_empty_list_is_refused(string registryJson)
    {
        Errors(registryJson).ShouldHaveSingleItem().ShouldBe("Mesh:Registry:Urls: must list at least one URL");
    }

    [Fact]
    public void Each_bad_url_is_named_by_its_index()
    {
        var errors = Errors("""{ "Urls": [ "http://127.0.0.1:7401", "not a url", "ftp://127.0.0.1/", "http://10.0.0.5:7400", "http://127.0.0.1:7401/" ] }""");
        errors.ShouldBe(
        [
            "Mesh:Registry:Urls:1: 'not a url' must be an absolute http or https URL",
            "Mesh:Registry:Urls:2: 'ftp://127.0.0.1/' must be an absolute http or https URL",
            "Mesh:Registry:Urls:4: 'http://127.0.0.1:7401/' is listed twice (also Mesh:Registry:Urls:0)",
            "Mesh:Registry:Urls:3: 'http://10.0.0.5:7400/' is plain http to a host that is not a loopback address: join tokens and certificates would cross the network in the clear. Use https with Mesh:Registry:CaFingerprint or Mesh:Registry:CaFile, or set Mesh:Registry:AllowInsecure to true on an isolated network",
        ], ignoreOrder: true);
    }

    [Fact]
    public void An_item_that_is_not_a_url_is_named_by_its_path()
    {
        Errors("""{ "Urls": [ "http://127.0.0.1:7401", { "Host": "x" } ] }""").ShouldHaveSingleItem()
            .ShouldBe("Mesh:Registry:Urls:1: expected a value, found a section");
    }

    [Fact]
    public void Each_replica_follows_the_transport_rules_with_its_own_path()
    {
        Errors("""{ "Urls": [ "http://127.0.0.1:7401", "http://10.0.0.5:7400" ] }""").ShouldHaveSingleItem()
            .ShouldStartWith("Mesh:Registry:Urls:1: 'http://10.0.0.5:7400/' is plain http to a host that is not a loopback address");
        var unpinned = Errors("""{ "Urls": [ "https://r1.internal:7400", "https://r2.internal:7400" ] }""");
        unpinned.Count.ShouldBe(2);
        unpinned[0].ShouldStartWith("Mesh:Registry:Urls:0: 'https://r1.internal:7400/' is https, so the registry's CA must be pinned");
        unpinned[1].ShouldStartWith("Mesh:Registry:Urls:1: 'https://r2.internal:7400/' is https, so the registry's CA must be pinned");
    }

    [Fact]
    public void Replicas_share_one_scheme()
    {
        Errors("""{ "Urls": [ "http://127.0.0.1:7401", "https://127.0.0.1:7402" ], "CaFingerprint": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }""")
            .ShouldHaveSingleItem()
            .ShouldStartWith("Mesh:Registry:Urls:1: 'https://127.0.0.1:7402/' is https but the replicas before it are http");
    }

    [Fact]
    public void Replicas_set_in_code_are_checked_too()
    {
        var options = new MeshOptions { Service = { Name = "reviews" } };
        options.Registry.Urls = [new Uri("http://127.0.0.1:7401"), null!, new Uri("/relative", UriKind.Relative)];
        PolicyValidator.Validate(options).ShouldBe(
        [
            "Mesh:Registry:Urls:1: must not be null",
            "Mesh:Registry:Urls:2: '/relative' must be an absolute http or https URL",
        ], ignoreOrder: true);
    }

    [Fact]
    public void Registering_with_replicas_needs_a_service_name()
    {
        var options = new MeshOptions();
        options.Registry.Urls = [new Uri("http://127.0.0.1:7401")];
        PolicyValidator.Validate(options).ShouldHaveSingleItem().ShouldStartWith("Mesh:Service:Name: required to register with the registry");
    }
}
