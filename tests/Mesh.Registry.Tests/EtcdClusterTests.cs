using dotnet_etcd;
using Grpc.Core;
using Mesh.Testing;
using Xunit.Abstractions;

namespace Mesh.Registry.Tests;

/// <summary>
/// The etcd test cluster itself (real etcd processes), driven through dotnet-etcd as the registry's etcd store
/// drives it: acknowledged writes survive member kills, a majority keeps taking writes, a minority refuses them.
/// </summary>
public sealed class EtcdClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan WriteDeadline = TimeSpan.FromSeconds(5);

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

        cluster.Kill(1);
        var failing = time.GetTimestamp();
        var refused = await Should.ThrowAsync<RpcException>(() => client.PutAsync("/fixture/c", "3", deadline: Deadline()));
        output.WriteLine($"1 of 3: put failed after {time.GetElapsedTime(failing).TotalMilliseconds:0} ms: {refused.StatusCode} {refused.Status.Detail}");
        refused.StatusCode.ShouldBe(StatusCode.DeadlineExceeded);

        cluster.KillAll();
        started = time.GetTimestamp();
        await cluster.RestartAllAsync();
        output.WriteLine($"3 members healthy again after {time.GetElapsedTime(started).TotalMilliseconds:0} ms");
        (await client.GetValAsync("/fixture/a", deadline: Deadline())).ShouldBe("1");
        (await client.GetValAsync("/fixture/b", deadline: Deadline())).ShouldBe("2");
    }

    private static DateTime Deadline() => TimeProvider.System.GetUtcNow().UtcDateTime + WriteDeadline;
}
