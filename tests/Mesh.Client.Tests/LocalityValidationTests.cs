using System.Text;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests;

public sealed class LocalityValidationTests
{
    private static MeshOptions Read(string localityJson)
    {
        var json = $$"""
        { "Mesh": { "Services": { "reviews": {
            "Endpoints": [ { "Address": "http://127.0.0.1:5001", "Zone": "zone-a" } ],
            "LoadBalancer": { "Locality": {{localityJson}} } } } } }
        """;
        var config = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);
        return options;
    }

    private static List<string> Errors(string localityJson) => PolicyValidator.Validate(Read(localityJson));

    private const string Path = "Mesh:Services:reviews:LoadBalancer:Locality";

    [Fact]
    public void Failover_and_distribute_are_read()
    {
        var failover = Read("""{ "Enabled": true, "Failover": [ "zone-b", "zone-c" ] }""");
        PolicyValidator.Validate(failover).ShouldBeEmpty();
        failover.Services["reviews"].LoadBalancer.Locality.Failover.ShouldBe(["zone-b", "zone-c"]);

        var distribute = Read("""{ "Distribute": { "zone-a": 80, "zone-b": 20 } }""");
        PolicyValidator.Validate(distribute).ShouldBeEmpty();
        distribute.Services["reviews"].LoadBalancer.Locality.Distribute["zone-b"].ShouldBe(20);

        var off = Read("""{ "Enabled": false }""");
        PolicyValidator.Validate(off).ShouldBeEmpty();
        off.Services["reviews"].LoadBalancer.Locality.Enabled.ShouldBeFalse();
        new LocalityOptions().Enabled.ShouldBeTrue();
    }

    [Fact]
    public void Every_locality_error_is_reported_with_its_path()
    {
        Errors("""{ "Failover": [ "zone-b" ], "Distribute": { "zone-a": 100 } }""")
            .ShouldBe([$"{Path}: set Failover or Distribute, not both"]);

        Errors("""{ "Failover": [ "zone-b", "zone b", "ZONE-B" ] }""").ShouldBe(
        [
            $"{Path}:Failover:1: 'zone b' is not a valid zone (letters, digits, '-', '_' and '.', at most 63 characters)",
            $"{Path}:Failover:2: 'ZONE-B' is listed twice",
        ]);

        Errors("""{ "Distribute": { "zone-a": 80, "zone-b": 30 } }""")
            .ShouldBe([$"{Path}:Distribute: weights sum to 110, must be 100"]);

        Errors("""{ "Distribute": { "zone-a": 120, "zone-b": -20 } }""").ShouldBe(
        [
            $"{Path}:Distribute:zone-a: 120 must be between 0 and 100",
            $"{Path}:Distribute:zone-b: -20 must be between 0 and 100",
        ], ignoreOrder: true);

        Errors("""{ "Distribute": { "zone-a": "most", "zone-b": 100 } }""")
            .ShouldBe([$"{Path}:Distribute:zone-a: 'most' is not an integer"]);

        Errors("""{ "Enabled": "sometimes", "Fallback": [ "zone-b" ] }""").ShouldBe(
        [
            $"{Path}:Fallback: unknown setting 'Fallback'; expected one of Enabled, Failover, Distribute",
            $"{Path}:Enabled: 'sometimes' is not true or false",
        ], ignoreOrder: true);
    }

    [Fact]
    public void A_registry_policy_document_is_read_and_checked_the_same_way()
    {
        var (errors, policy) = PolicyDocumentReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(
            """{ "LoadBalancer": { "Locality": { "Distribute": { "zone-a": 70, "zone-b": 30 } } } }""")));
        errors.ShouldBeEmpty();
        policy!.LoadBalancer.Locality.Distribute.ShouldBe(new Dictionary<string, int> { ["zone-a"] = 70, ["zone-b"] = 30 }, ignoreOrder: true);

        (errors, _) = PolicyDocumentReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(
            """{ "LoadBalancer": { "Locality": { "Failover": [ "zone-b" ], "Distribute": { "zone-a": 70 } } } }""")));
        errors.ShouldBe(["LoadBalancer:Locality: set Failover or Distribute, not both", "LoadBalancer:Locality:Distribute: weights sum to 70, must be 100"]);
    }

    [Fact]
    public void Options_set_in_code_are_validated_too()
    {
        var options = new MeshOptions();
        options.Services["reviews"] = new ServicePolicyOptions { LoadBalancer = { Locality = { Failover = null!, Distribute = { [""] = 100 } } } };
        PolicyValidator.Validate(options).ShouldBe([$"{Path}:Failover: missing"]);

        options.Services["reviews"].LoadBalancer.Locality = new LocalityOptions { Distribute = { [""] = 100 } };
        PolicyValidator.Validate(options).ShouldBe([$"{Path}:Distribute:: '' is not a valid zone (letters, digits, '-', '_' and '.', at most 63 characters)"]);

        options.Services["reviews"].LoadBalancer.Locality = null!;
        PolicyValidator.Validate(options).ShouldBe([$"{Path}: missing"]);
    }
}
