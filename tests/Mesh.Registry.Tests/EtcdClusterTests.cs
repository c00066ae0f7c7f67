using System.Collections.Concurrent;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Mesh.Testing;
using Mvccpb;
using Xunit.Abstractions;

namespace Mesh.Registry.Tests;

/// <summary>
/// The etcd test cluster itself (real etcd processes), driven through dotnet-etcd as the registry's etcd store
/// drives it: acknowledged writes survive member kills, a majority keeps taking writes, a minority refuses them; and
/// the client calls the store is built on (range by prefix, a transaction on a mod revision, leases, a watch from a
/// revision) on the shared single-member cluster.
/// </summary>
public sealed class EtcdClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(5);

    // Header etcd reads as "refuse at once when this member has no leader" instead of waiting out its own request
    // timeout (5 s + 2 election timeouts).
    private static readonly Metadata RequireLeader = new() { { "hasleader", "true" } };

    [Fact]
    public async Task Three_members_keep_acknowledged_writes_through_kills_and_a_full_restart()
    {
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        await using var cluster = await EtcdCluster.StartAsync(3);
        output.WriteLine($"3 members healthy after {time.GetElapsedTime(started).TotalMilliseconds:0} ms");
        cluster.ClientEndpoints.Count.ShouldBe(3);
        cluster.ClientEndpoints.Select(e => e.Port).Distinct().Count().ShouldBe(3);
        cluster.ClientEndpoints.ShouldAllBe(e => e.Host == "127.0.0.1" && e.Port != 2379);

        using var client = new EtcdClient(cluster.ConnectionString);
        await client.PutAsync("/fixture/a", "1", deadline: Deadline());

        cluster.Kill(0);
        cluster.IsRunning(0).ShouldBeFalse();
        (await client.GetValAsync("/fixture/a", deadline: Deadline())).ShouldBe("1");

        // Two of three are a quorum: writes still commit.
        await client.PutAsync("/fixture/b", "2", deadline: Deadline());

        // A restarted member catches up on what was written while it was down.
        started = time.GetTimestamp();
        await cluster.RestartAsync(0);
        output.WriteLine($"member 0 healthy again after {time.GetElapsedTime(started).TotalMilliseconds:0} ms");
        using (var member0 = new EtcdClient(Endpoint(cluster, 0)))
        {
            var local = await member0.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/fixture/b"), Serializable = true }, deadline: Deadline());
            local.Kvs.Single().Value.ToStringUtf8().ShouldBe("2");
        }

        // One of three is no quorum: a write neither commits nor returns before its deadline.
        cluster.Kill(0);
        cluster.Kill(1);
        using var survivor = new EtcdClient(Endpoint(cluster, 2));
        var failing = time.GetTimestamp();
        var timedOut = await Should.ThrowAsync<RpcException>(() => survivor.PutAsync("/fixture/c", "3", deadline: Deadline()));
        output.WriteLine($"1 of 3, put with a {CallDeadline.TotalSeconds:0} s deadline: {time.GetElapsedTime(failing).TotalMilliseconds:0} ms, {timedOut.StatusCode}");
        timedOut.StatusCode.ShouldBe(StatusCode.DeadlineExceeded);

        // With "hasleader" the member refuses at once once it has noticed it lost the leader; without client retries
        // (dotnet-etcd's default service config retries Unavailable) that reaches the caller as it is.
        using var noRetries = new EtcdClient(Endpoint(cluster, 2), configureChannelOptions: o =>
            o.ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } });
        RpcException? refused = null;
        await Poll.UntilAsync(async () =>
        {
            var attempt = time.GetTimestamp();
            try
            {
                await noRetries.PutAsync("/fixture/c", "3", RequireLeader, deadline: time.GetUtcNow().UtcDateTime.AddSeconds(1));
                throw new ShouldAssertException("A write committed on one member of three.");
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
            {
                output.WriteLine($"1 of 3, put with hasleader: {time.GetElapsedTime(attempt).TotalMilliseconds:0} ms, {ex.StatusCode} '{ex.Status.Detail}'");
                refused = ex;
                return true;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.DeadlineExceeded)
            {
                return false; // it still believed in the old leader and forwarded the write
            }
        }, TimeSpan.FromSeconds(30), "the last member refuses writes as leaderless");
        refused!.Status.Detail.ShouldBe("etcdserver: no leader");

        // Alone, a restarted member serves (and waits for its peers) but has no quorum to be healthy with.
        cluster.KillAll();
        await cluster.RestartAsync(0);
        cluster.IsRunning(0).ShouldBeTrue();
        cluster.IsRunning(1).ShouldBeFalse();

        started = time.GetTimestamp();
        await cluster.RestartAllAsync();
        output.WriteLine($"3 members healthy again after {time.GetElapsedTime(started).TotalMilliseconds:0} ms");
        (await client.GetValAsync("/fixture/a", deadline: Deadline())).ShouldBe("1");
        (await client.GetValAsync("/fixture/b", deadline: Deadline())).ShouldBe("2");

        // The write that timed out without a quorum was undecided, not refused: the survivor kept it in its log, and the
        // quorum that came back may commit it. Only acknowledged writes are promised, and a commit is never half-made.
        var undecided = await client.GetAsync("/fixture/c", deadline: Deadline());
        if (undecided.Count == 1)
        {
            undecided.Kvs.Single().Value.ToStringUtf8().ShouldBe("3");
        }
    }

    [Fact]
    public async Task The_shared_cluster_is_one_member_started_once_per_test_process()
    {
        var shared = await EtcdCluster.Shared;
        (await EtcdCluster.Shared).ShouldBeSameAs(shared);
        shared.Count.ShouldBe(1);
        shared.IsRunning(0).ShouldBeTrue();
        shared.ClientEndpoints.Single().Port.ShouldNotBe(2379);
    }

    [Fact]
    public async Task A_range_by_prefix_sees_only_its_keys_in_key_order()
    {
        var prefix = await NewPrefixAsync();
        using var client = new EtcdClient((await EtcdCluster.Shared).ConnectionString);
        await client.PutAsync(prefix + "b", "2", deadline: Deadline());
        await client.PutAsync(prefix + "a", "1", deadline: Deadline());
        await client.PutAsync(prefix.TrimEnd('/') + "-other/a", "elsewhere", deadline: Deadline());

        var range = await client.GetRangeAsync(prefix, deadline: Deadline());
        range.Kvs.Select(kv => kv.Key.ToStringUtf8()).ShouldBe([prefix + "a", prefix + "b"]);
        range.Kvs.Select(kv => kv.Value.ToStringUtf8()).ShouldBe(["1", "2"]);
        range.Header.Revision.ShouldBeGreaterThanOrEqualTo(range.Kvs.Max(kv => kv.ModRevision));

        (await client.GetRangeValAsync(prefix, deadline: Deadline())).Keys.ShouldBe([prefix + "a", prefix + "b"], ignoreOrder: true);
    }

    [Fact]
    public async Task A_transaction_on_a_mod_revision_commits_for_the_writer_that_read_it_and_no_other()
    {
        var key = await NewPrefixAsync() + "policy";
        using var client = new EtcdClient((await EtcdCluster.Shared).ConnectionString);

        // Create only while absent: the key's create revision is 0.
        var created = await client.TransactionAsync(PutIf(key, "v1", Compare.Types.CompareTarget.Create, 0), deadline: Deadline());
        created.Succeeded.ShouldBeTrue();
        var revision = created.Header.Revision;
        (await client.TransactionAsync(PutIf(key, "v1-again", Compare.Types.CompareTarget.Create, 0), deadline: Deadline())).Succeeded.ShouldBeFalse();

        // Replace only at the mod revision the writer read: the second writer with the same read loses.
        (await client.TransactionAsync(PutIf(key, "v2", Compare.Types.CompareTarget.Mod, revision), deadline: Deadline())).Succeeded.ShouldBeTrue();
        var stale = await client.TransactionAsync(PutIf(key, "v2-stale", Compare.Types.CompareTarget.Mod, revision), deadline: Deadline());
        stale.Succeeded.ShouldBeFalse();

        // The failure branch reads the current value in the same transaction.
        var current = stale.Responses.Single().ResponseRange.Kvs.Single();
        current.Value.ToStringUtf8().ShouldBe("v2");
        current.ModRevision.ShouldBeGreaterThan(revision);
        current.Version.ShouldBe(2);
    }

    [Fact]
    public async Task A_key_on_a_lease_is_kept_alive_and_goes_with_the_lease()
    {
        var key = await NewPrefixAsync() + "instance";
        using var client = new EtcdClient((await EtcdCluster.Shared).ConnectionString);
        var lease = await client.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 }, deadline: Deadline());
        lease.ID.ShouldNotBe(0);
        lease.TTL.ShouldBe(30);
        await client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8("up"), Lease = lease.ID }, deadline: Deadline());
        (await client.GetAsync(key, deadline: Deadline())).Kvs.Single().Lease.ShouldBe(lease.ID);

        // One keep-alive: the stream sends the request, the response carries the renewed TTL.
        var renewals = new ConcurrentQueue<LeaseKeepAliveResponse>();
        using (var keepAlive = new CancellationTokenSource(CallDeadline, TimeProvider.System))
        {
            await client.LeaseKeepAlive(new LeaseKeepAliveRequest { ID = lease.ID }, renewals.Enqueue, keepAlive.Token);
        }

        renewals.Single().ID.ShouldBe(lease.ID);
        renewals.Single().TTL.ShouldBe(30);
        var left = await client.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = lease.ID, Keys = true }, deadline: Deadline());
        left.Keys.Single().ToStringUtf8().ShouldBe(key);

        await client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease.ID }, deadline: Deadline());
        (await client.GetAsync(key, deadline: Deadline())).Count.ShouldBe(0);
    }

    [Fact]
    public async Task A_watch_from_a_past_revision_replays_every_change_since_then_and_follows_new_ones()
    {
        var prefix = await NewPrefixAsync();
        using var client = new EtcdClient((await EtcdCluster.Shared).ConnectionString);
        var first = await client.PutAsync(prefix + "a", "1", deadline: Deadline());
        await client.PutAsync(prefix + "a", "2", deadline: Deadline());
        await client.DeleteAsync(prefix + "a", deadline: Deadline());

        var events = new ConcurrentQueue<Event>();
        var watchId = await client.WatchAsync(
            new WatchRequest
            {
                CreateRequest = new WatchCreateRequest
                {
                    Key = ByteString.CopyFromUtf8(prefix),
                    RangeEnd = ByteString.CopyFromUtf8(EtcdClient.GetRangeEnd(prefix)),
                    StartRevision = first.Header.Revision,
                },
            },
            (WatchResponse response) =>
            {
                foreach (var e in response.Events)
                {
                    events.Enqueue(e);
                }
            });
        try
        {
            await client.PutAsync(prefix + "b", "3", deadline: Deadline());
            await Poll.UntilAsync(() => events.Count >= 4, TimeSpan.FromSeconds(10), "the watch replays 3 changes and sees the new one");
            events.Select(e => (e.Type, e.Kv.Key.ToStringUtf8(), e.Kv.Value.ToStringUtf8())).ShouldBe(
            [
                (Event.Types.EventType.Put, prefix + "a", "1"),
                (Event.Types.EventType.Put, prefix + "a", "2"),
                (Event.Types.EventType.Delete, prefix + "a", string.Empty),
                (Event.Types.EventType.Put, prefix + "b", "3"),
            ]);
            events.Select(e => e.Kv.ModRevision).ShouldBeInOrder(SortDirection.Ascending);
            events.First().Kv.ModRevision.ShouldBe(first.Header.Revision);
        }
        finally
        {
            client.CancelWatch(watchId);
        }
    }

    private static TxnRequest PutIf(string key, string value, Compare.Types.CompareTarget target, long revision)
    {
        var compare = new Compare { Key = ByteString.CopyFromUtf8(key), Target = target, Result = Compare.Types.CompareResult.Equal };
        if (target == Compare.Types.CompareTarget.Create)
        {
            compare.CreateRevision = revision;
        }
        else
        {
            compare.ModRevision = revision;
        }

        return new TxnRequest
        {
            Compare = { compare },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) } } },
            Failure = { new RequestOp { RequestRange = new RangeRequest { Key = ByteString.CopyFromUtf8(key) } } },
        };
    }

    /// <summary>A key prefix of this test alone on the shared cluster.</summary>
    private static async Task<string> NewPrefixAsync()
    {
        await EtcdCluster.Shared;
        return $"/meshlib-test/{Guid.NewGuid():N}/";
    }

    private static string Endpoint(EtcdCluster cluster, int member) => cluster.ClientEndpoints[member].ToString().TrimEnd('/');

    private static DateTime Deadline() => TimeProvider.System.GetUtcNow().UtcDateTime + CallDeadline;
}
