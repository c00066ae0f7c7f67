using System.Text;
using Mesh.Client.Configuration;
using Mesh.Client.Discovery.Consul;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests;

public sealed class ConsulDiscoveryOptionsTests
{
    private static MeshOptions Read(string meshJson)
    {
        var config = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("{ \"Mesh\": " + meshJson + " }")))
            .Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);
        return options;
    }

    [Fact]
    public void The_consul_section_is_read_and_off_by_default()
    {
        Read("{}").Discovery.Consul.Address.ShouldBeNull();
        var options = Read("""{ "Discovery": { "Consul": { "Address": "http://127.0.0.1:8500", "Token": "secret", "Datacenter": "dc2" } } }""");
        PolicyValidator.Validate(options).ShouldBeEmpty();
        options.Discovery.Consul.Address.ShouldBe(new Uri("http://127.0.0.1:8500"));
        options.Discovery.Consul.Token.ShouldBe("secret");
        options.Discovery.Consul.Datacenter.ShouldBe("dc2");
    }

    [Fact]
    public void Bad_consul_settings_are_reported_with_their_paths()
    {
        var errors = PolicyValidator.Validate(Read("""{ "Discovery": { "Consul": { "Address": "ftp://consul", "Datacenter": "dc 2" } } }"""));
        errors.ShouldContain(e => e.StartsWith("Mesh:Discovery:Consul:Address:", StringComparison.Ordinal));
        errors.ShouldContain(e => e.StartsWith("Mesh:Discovery:Consul:Datacenter:", StringComparison.Ordinal));

        var orphans = PolicyValidator.Validate(Read("""{ "Discovery": { "Consul": { "Token": "secret" } } }"""));
        orphans.ShouldContain(e => e.StartsWith("Mesh:Discovery:Consul:Address: required", StringComparison.Ordinal));
    }

    [Fact]
    public void Health_entries_become_endpoints_with_scheme_version_zone_and_meta()
    {
        var body = Encoding.UTF8.GetBytes("""
            [
              { "Node": { "Node": "n1", "Address": "10.0.0.5" },
                "Service": { "ID": "r1", "Service": "reviews", "Tags": [ "version=v2", "zone=zone-a", "https" ], "Address": "", "Port": 8443, "Meta": { "team": "books" } } },
              { "Node": { "Node": "n2", "Address": "10.0.0.6" },
                "Service": { "ID": "r2", "Service": "reviews", "Tags": [], "Address": "fd00::6", "Port": 8080, "Meta": null } },
              { "Node": { "Node": "n3", "Address": "10.0.0.7" }, "Service": { "ID": "r3", "Service": "reviews", "Port": 0 } }
            ]
            """);
        var endpoints = ConsulEndpointSource.ReadEndpoints(body);
        endpoints.Count.ShouldBe(2);
        endpoints[0].Address.ShouldBe(new Uri("https://10.0.0.5:8443"));
        endpoints[0].Labels["version"].ShouldBe("v2");
        endpoints[0].Labels["team"].ShouldBe("books");
        endpoints[0].Zone.ShouldBe("zone-a");
        endpoints[1].Address.ShouldBe(new Uri("http://[fd00::6]:8080"));
        endpoints[1].Zone.ShouldBeNull();
    }
}
