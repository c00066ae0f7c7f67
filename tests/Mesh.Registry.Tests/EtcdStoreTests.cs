using dotnet_etcd;
using Etcdserverpb;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// What only the etcd store has to get right, on a cluster of the test's own: its mirror's reload when etcd compacted
/// away the revisions its watch needs; a registration whose lease passed before the decider removed it.
/// </summary>
public sealed class EtcdStoreTests
{
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_watch_parked_across_a_reload_after_compaction_keeps_its_index_and_instances()
    {
        await using var cluster = await EtcdCluster.StartAsync(1);
        await using var host = await RegistryHost.StartAsync(new ManualTimeProvider(), etcd: cluster);
        var client = host.Admin;
        var index = await client.RegisterIndexAsync("reviews", "a", "http://127.0.0.1:5001");

        // Writes outside the registry's prefix move the cluster's revision past the mirror's; compacting there makes
        // the mirror's next watch (after the member restarts) start at a revision etcd no longer has.
        using var etcd = new EtcdClient(cluster.ConnectionString);
        PutResponse put = null!;
        for (var i = 0; i < 5; i++)
        {
            put = await etcd.PutAsync("/elsewhere/key", $"{i}", deadline: Deadline());
        }

        await etcd.CompactAsync(new CompactionRequest { Revision = put.Header.Revision, Physical = true }, deadline: Deadline());

        var watch = client.GetJsonAsync($"/v1/services/reviews/instances?index={index}&wait=5m");
        await Poll.UntilAsync(() => host.Store.WaitingWatches == 1);

        cluster.Kill(0);
        await cluster.RestartAsync(0);
        await Poll.UntilAsync(() => host.Logs.AllText().Contains("compacted revision", StringComparison.Ordinal), TimeSpan.FromSeconds(30),
            "the mirror reloads after compaction");

        var answer = await watch.WaitAsync(TimeSpan.FromSeconds(30));
        answer.Index().ShouldBeGreaterThanOrEqualTo(index);
        answer.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ShouldBe(["a"]);
        (await client.InstanceIdsAsync("reviews")).ShouldBe(["a"]);
    }

    [Fact]
    public async Task A_registration_after_its_lease_passed_is_a_new_one_even_before_the_decider_removed_it()
    {
        // Another replica holds the decider lock and never sweeps, so the passed lease is still in etcd.
        var cluster = await EtcdCluster.Shared;
        var prefix = $"/meshlib-test/{Guid.NewGuid():N}/";
        using var etcd = new EtcdClient(cluster.ConnectionString);
        await etcd.PutAsync(prefix + "meta/decider", "a replica that never sweeps", deadline: Deadline());
        var time = new ManualTimeProvider();
        await using var host = await RegistryHost.StartAsync(time, s => s["MeshRegistry:MassExpiryThreshold"] = "1", etcd: cluster, etcdPrefix: prefix);
        var client = host.Admin;
        var index = await client.RegisterIndexAsync("reviews", "a", "http://127.0.0.1:5001", ttl: 10);

        time.Advance(TimeSpan.FromSeconds(10));
        (await client.InstanceIdsAsync("reviews")).ShouldBeEmpty();

        // Reads left it out at its deadline; coming back is a change to the instance set, as on every store.
        using var again = await client.RegisterAsync("reviews", "a", "http://127.0.0.1:5001", ttl: 10);
        again.StatusCode.ShouldBe(System.Net.HttpStatusCode.Created);
        again.MeshIndex().ShouldBeGreaterThan(index);
        (await client.InstanceIdsAsync("reviews")).ShouldBe(["a"]);
    }

    private static DateTime Deadline() => TimeProvider.System.GetUtcNow().UtcDateTime + CallDeadline;
}
