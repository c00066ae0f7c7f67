using Mesh.Client.Registry;

namespace Mesh.Client.Tests;

public sealed class RegistryEndpointsTests
{
    [Fact]
    public void Label_keys_that_differ_only_by_case_keep_the_first_and_never_throw()
    {
        // A registry that let them through, or a tampered cache, must not end the watch of the service.
        var instance = new InstanceRecord
        {
            Id = "r1",
            Service = "reviews",
            Address = "http://127.0.0.1:5001",
            Version = "v2",
            Labels = new Dictionary<string, string>(StringComparer.Ordinal) { ["zone"] = "a", ["ZONE"] = "b", ["Version"] = "v9" },
        };

        var endpoint = RegistryDiscoverySource.ToEndpoints([instance]).ShouldHaveSingleItem();

        endpoint.Labels["zone"].ShouldBe("a");
        endpoint.Labels["version"].ShouldBe("v9"); // an explicit label wins over the registered version, as before
        endpoint.Labels.Count.ShouldBe(2);
    }
}
