using dotnet_etcd;
using Etcdserverpb;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// What only the etcd store has to get right, on a cluster of the test's own: its mirror's reload when etcd compacted
/// away the revisions its watch needs; a decider that lost its lock; a registration whose lease passed before the decider removed it.
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

    [Fact]
    public async Task A_replica_whose_decider_lease_ended_expires_nothing_once_another_holds_the_lock()
    {
        var cluster = await EtcdCluster.Shared;
        var prefix = $"/meshlib-test/{Guid.NewGuid():N}/";
        using var etcd = new EtcdClient(cluster.ConnectionString);
        var time = new ManualTimeProvider();
        await using var host = await RegistryHost.StartAsync(time, s => s["MeshRegistry:MassExpiryThreshold"] = "1", etcd: cluster, etcdPrefix: prefix);
        await host.Admin.RegisterIndexAsync("reviews", "a", "http://127.0.0.1:5001", ttl: 10);
        long session = 0;
        await Poll.UntilAsync(() =>
        {
            var decider = etcd.Get(prefix + "meta/decider", deadline: Deadline());
            session = decider.Kvs.Count > 0 ? decider.Kvs[0].Lease : 0;
            return session != 0;
        }, because: "the replica takes the decider lock");

        // Its session lease ends (as when it was cut off from etcd for longer than it) and another replica takes the
        // lock; until its next keep-alive is answered it still believes it decides.
        await etcd.LeaseRevokeAsync(new LeaseRevokeRequest { ID = session }, deadline: Deadline());
        await etcd.PutAsync(prefix + "meta/decider", "another replica", deadline: Deadline());
        time.Advance(TimeSpan.FromSeconds(10));

        await Poll.UntilAsync(() => host.Logs.AllText().Contains("another replica decides lease expiry now", StringComparison.Ordinal),
            because: "the replica learns it no longer decides");
        (await etcd.GetAsync(prefix + "instances/reviews/a", deadline: Deadline())).Kvs.Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_replica_that_lost_the_decider_lock_moves_no_rollout_on_though_it_still_believes_it_drives()
    {
        var cluster = await EtcdCluster.Shared;
        var prefix = $"/meshlib-test/{Guid.NewGuid():N}/";
        using var etcd = new EtcdClient(cluster.ConnectionString);
        await using var host = await RegistryHost.StartAsync(new ManualTimeProvider(), etcd: cluster, etcdPrefix: prefix);
        long session = 0;
        await Poll.UntilAsync(() =>
        {
            var decider = etcd.Get(prefix + "meta/decider", deadline: Deadline());
            session = decider.Kvs.Count > 0 ? decider.Kvs[0].Lease : 0;
            return session != 0 && host.Store.DrivesRollouts;
        }, because: "the replica takes the decider lock");
        var started = await host.Store.WriteRolloutAsync("reviews", """{"step":1}""", 0, asDriver: true);
        started.ShouldNotBeNull();

        // Its session ends and another replica takes the lock; until its next keep-alive is answered it still believes it drives.
        await etcd.LeaseRevokeAsync(new LeaseRevokeRequest { ID = session }, deadline: Deadline());
        await etcd.PutAsync(prefix + "meta/decider", "another replica", deadline: Deadline());

        (await host.Store.WriteRolloutAsync("reviews", """{"step":2}""", started.Revision, asDriver: true)).ShouldBeNull();
        (await host.Store.GetRolloutAsync("reviews"))!.Document.ShouldBe("""{"step":1}""");
        host.Store.DrivesRollouts.ShouldBeFalse();

        // An operator's command through this replica is no driver's write: it is made whoever drives.
        (await host.Store.WriteRolloutAsync("reviews", """{"step":1,"paused":true}""", started.Revision, asDriver: false)).ShouldNotBeNull();
    }

    private static DateTime Deadline() => TimeProvider.System.GetUtcNow().UtcDateTime + CallDeadline;
}
