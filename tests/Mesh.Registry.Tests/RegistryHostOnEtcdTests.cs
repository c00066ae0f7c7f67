using Mesh.Testing;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Tests;

/// <summary>The test host's settings for a registry on etcd: the store, the cluster's endpoints, a prefix per host.</summary>
public sealed class RegistryHostOnEtcdTests
{
    [Fact]
    public async Task Etcd_settings_name_the_store_every_endpoint_and_a_prefix_of_the_host_alone()
    {
        await using var cluster = await EtcdCluster.StartAsync(3);
        var settings = RegistryHost.EtcdSettings(cluster);
        settings["MeshRegistry:Store"].ShouldBe("Etcd");
        Enumerable.Range(0, 3).Select(i => settings[$"MeshRegistry:Etcd:Endpoints:{i}"])
            .ShouldBe(cluster.ClientEndpoints.Select(e => $"http://127.0.0.1:{e.Port}"));
        settings.Keys.Count(k => k.StartsWith("MeshRegistry:Etcd:Endpoints:", StringComparison.Ordinal)).ShouldBe(3);
        settings["MeshRegistry:Etcd:Prefix"]!.ShouldMatch("^/meshlib-test/[0-9a-f]{32}/$");

        RegistryHost.EtcdSettings(cluster)["MeshRegistry:Etcd:Prefix"].ShouldNotBe(settings["MeshRegistry:Etcd:Prefix"]);
        RegistryHost.EtcdSettings(cluster, "/meshlib-test/replicas/")["MeshRegistry:Etcd:Prefix"].ShouldBe("/meshlib-test/replicas/");
    }

    [Fact]
    public async Task A_host_on_etcd_hands_the_registry_the_etcd_settings_and_a_ca_folder_of_its_own()
    {
        var cluster = await EtcdCluster.Shared;
        Dictionary<string, string?>? given = null;
        try
        {
            await using var host = await RegistryHost.StartAsync(etcd: cluster, etcdPrefix: "/meshlib-test/host-settings/", configure: s => given = new(s));
            host.Etcd.ShouldBeSameAs(cluster);
            host.EtcdPrefix.ShouldBe("/meshlib-test/host-settings/");
        }
        catch (OptionsValidationException ex) when (ex.Message.Contains("MeshRegistry:Store: 'Etcd' is not a store", StringComparison.Ordinal))
        {
            // A registry without the etcd store refuses to start on it; what it was given is still checked below.
        }

        given.ShouldNotBeNull();
        given["MeshRegistry:Store"].ShouldBe("Etcd");
        given["MeshRegistry:Etcd:Endpoints:0"].ShouldBe(cluster.ConnectionString);
        given["MeshRegistry:Etcd:Prefix"].ShouldBe("/meshlib-test/host-settings/");
        given["MeshRegistry:CaPath"].ShouldBe(Path.Combine(Path.GetDirectoryName(given["MeshRegistry:DataPath"])!, "ca"));
    }
}
