using System.Net;
using System.Security.Cryptography;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Mesh.Testing;
using Xunit.Abstractions;

namespace Mesh.Registry.Tests;

/// <summary>
/// The etcd store's backup and restore with etcd's own tools, as the docs give them: <c>etcdctl snapshot save</c>
/// against the running cluster, <c>etcdctl snapshot restore</c> into a new single-member cluster, then a registry on it
/// with the same <c>Prefix</c> and the same <c>CaPath</c>. Also what becomes of the instances' etcd leases.
/// </summary>
public sealed class EtcdBackupTests(ITestOutputHelper output) : IDisposable
{
    private const int InstanceTtl = 3600;
    private const int StaleTtl = 30;

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));

    public void Dispose() => RegistryHost.DeleteDirectory(_directory);

    [Fact]
    public async Task Etcd_snapshot_restored_into_a_new_cluster_serves_the_registrations_policies_and_join_tokens()
    {
        Directory.CreateDirectory(_directory);
        var prefix = $"/meshlib-backup-test/{Guid.NewGuid():N}/";
        var snapshot = Path.Combine(_directory, "registry.snapshot.db");
        var keys = new Mesh.Registry.Store.Etcd.EtcdKeys(prefix);

        string joinToken, roots, reviewsPolicy, reviewsHistory, ratingsPolicy, reviewsInstances;
        long indexAtSnapshot, r1Lease, staleLease;
        await using (var original = await EtcdCluster.StartAsync(1))
        {
            await using var registry = await RegistryProcess.StartAsync(Environment(original, prefix));
            using var admin = registry.Client(RegistryHost.AdminToken);
            (await admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", InstanceTtl)).EnsureSuccessStatusCode();
            (await admin.RegisterAsync("reviews", "r2", "http://127.0.0.1:5002", InstanceTtl)).EnsureSuccessStatusCode();
            (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json("""{ "LoadBalancer": { "Policy": "RoundRobin" } }"""))).EnsureSuccessStatusCode();
            (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json("""{ "LoadBalancer": { "Policy": "Random" } }"""))).EnsureSuccessStatusCode();
            (await admin.PutAsync(new Uri("/v1/policies/ratings", UriKind.Relative), Api.Json("""{ "RetryBudget": { "RetryRatio": 0.1 } }"""))).EnsureSuccessStatusCode();
            joinToken = (await JoinTokenTests.CreateAsync(admin, """{ "service": "reviews", "uses": 3, "ttl": "1.00:00:00" }""")).GetProperty("token").GetString()!;
            using (var workload = registry.Client(joinToken))
            {
                await SignAsync(workload);
            }

            // An instance whose lease ends soon after the snapshot: the restored registry must expire it.
            (await admin.RegisterAsync("ratings", "stale", "http://127.0.0.1:6001", StaleTtl)).EnsureSuccessStatusCode();

            roots = (await admin.GetJsonAsync("/v1/ca/roots")).GetRawText();
            reviewsPolicy = (await admin.GetJsonAsync("/v1/policies/reviews")).GetRawText();
            reviewsHistory = (await admin.GetJsonAsync("/v1/policies/reviews/history")).GetRawText();
            ratingsPolicy = (await admin.GetJsonAsync("/v1/policies/ratings")).GetRawText();
            reviewsInstances = Addresses(await admin.GetJsonAsync("/v1/services/reviews/instances"));
            indexAtSnapshot = (await admin.GetJsonAsync("/v1/services")).Index();
            using (var etcd = new EtcdClient(original.ConnectionString))
            {
                r1Lease = await LeaseOfAsync(etcd, keys.Instance("reviews", "r1"));
                staleLease = await LeaseOfAsync(etcd, keys.Instance("ratings", "stale"));
            }

            // The snapshot, taken while the registry runs.
            output.WriteLine(await original.SnapshotSaveAsync(snapshot));

            // Written after the snapshot: gone with the cluster.
            (await admin.RegisterAsync("reviews", "after-snapshot", "http://127.0.0.1:5009", InstanceTtl)).EnsureSuccessStatusCode();
            (await admin.PutAsync(new Uri("/v1/policies/ratings", UriKind.Relative), Api.Json("""{ "RetryBudget": { "RetryRatio": 0.2 } }"""))).EnsureSuccessStatusCode();

            // The cluster and its registry are lost.
            registry.Kill();
            original.KillAll();
        }

        await using var restored = await EtcdCluster.RestoreAsync(snapshot);
        using var restoredEtcd = new EtcdClient(restored.ConnectionString);

        // etcd's restore keeps the leases and the keys bound to them (with their IDs); each lease's clock starts again
        // at its full TTL when the restored member takes the lead.
        (await LeaseOfAsync(restoredEtcd, keys.Instance("reviews", "r1"))).ShouldBe(r1Lease);
        var r1 = await restoredEtcd.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = r1Lease, Keys = true });
        output.WriteLine($"restored lease of reviews/r1: granted {r1.GrantedTTL} s, {r1.TTL} s left, keys {string.Join(", ", r1.Keys.Select(k => k.ToStringUtf8()))}");
        r1.TTL.ShouldBeGreaterThan(0);
        // The etcd lease outlives the instance's own deadline and the guard's longest hold (MassExpiryMaxHold, 5 min), so a
        // keep-alive missed now and then never removes a live instance early.
        r1.GrantedTTL.ShouldBeGreaterThanOrEqualTo(InstanceTtl + (long)TimeSpan.FromMinutes(5).TotalSeconds);
        r1.Keys.Select(k => k.ToStringUtf8()).ShouldBe([keys.Instance("reviews", "r1"), keys.Lease("reviews", "r1")], ignoreOrder: true);

        // A registry on the restored cluster: same prefix, same CA folder.
        await using var again = await RegistryProcess.StartAsync(Environment(restored, prefix));
        using var check = again.Client(RegistryHost.AdminToken);
        Addresses(await check.GetJsonAsync("/v1/services/reviews/instances")).ShouldBe(reviewsInstances);
        (await check.GetJsonAsync("/v1/policies/reviews")).GetRawText().ShouldBe(reviewsPolicy);
        (await check.GetJsonAsync("/v1/policies/reviews/history")).GetRawText().ShouldBe(reviewsHistory);
        (await check.GetJsonAsync("/v1/policies/ratings")).GetRawText().ShouldBe(ratingsPolicy);
        (await check.GetJsonAsync("/v1/ca/roots")).GetRawText().ShouldBe(roots);

        // The index is etcd's revision, which the snapshot keeps: it carries on from where the snapshot was.
        var index = (await check.GetJsonAsync("/v1/services")).Index();
        index.ShouldBeGreaterThanOrEqualTo(indexAtSnapshot);
        using (var next = await check.RegisterAsync("reviews", "after-restore", "http://127.0.0.1:5010", InstanceTtl))
        {
            next.StatusCode.ShouldBe(HttpStatusCode.Created, await next.Content.ReadAsStringAsync());
            next.MeshIndex().ShouldBeGreaterThan(index);
        }

        // The join token with its use, and it still signs (same CA).
        (await check.GetJsonAsync("/v1/join-tokens")).GetProperty("tokens").EnumerateArray().Single().GetProperty("used").GetInt32().ShouldBe(1);
        using (var workload = again.Client(joinToken))
        {
            await SignAsync(workload);
        }

        (await check.GetJsonAsync("/v1/join-tokens")).GetProperty("tokens")[0].GetProperty("used").GetInt32().ShouldBe(2);

        // A renewal of a restored instance is a renewal (200, not a new registration): it writes under the restored lease.
        using (var renewal = await check.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", InstanceTtl))
        {
            renewal.StatusCode.ShouldBe(HttpStatusCode.OK, await renewal.Content.ReadAsStringAsync());
        }

        (await LeaseOfAsync(restoredEtcd, keys.Instance("reviews", "r1"))).ShouldBe(r1Lease);

        // The stale instance is served until its own deadline (ttl after its last renewal, before the snapshot), then the
        // restored registry expires it and revokes its restored lease: the registry's deadline decides, not etcd's lease.
        await Poll.UntilAsync(async () => (await check.InstanceIdsAsync("ratings")).Count == 0, TimeSpan.FromSeconds(StaleTtl + 60),
            "the restored registry expires the instance whose deadline passed");
        await Poll.UntilAsync(async () => (await restoredEtcd.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = staleLease })).TTL == -1,
            TimeSpan.FromSeconds(30), "the expired instance's restored lease is revoked");
        (await check.InstanceIdsAsync("reviews")).ShouldBe(["after-restore", "r1", "r2"], ignoreOrder: true);
    }

    private Dictionary<string, string> Environment(EtcdCluster cluster, string prefix)
    {
        var environment = new Dictionary<string, string>
        {
            ["MeshRegistry__AdminToken"] = RegistryHost.AdminToken,
            ["MeshRegistry__CaPath"] = Path.Combine(_directory, "ca"),
            ["MeshRegistry__DataPath"] = Path.Combine(_directory, "unused.db"),

            // The guard would hold the one instance of 'ratings' rather than expire it (all of a service at once).
            ["MeshRegistry__MassExpiryThreshold"] = "1",
        };
        foreach (var (key, value) in RegistryHost.EtcdSettings(cluster, prefix))
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value!;
        }

        return environment;
    }

    private static string Addresses(System.Text.Json.JsonElement instances) =>
        string.Join(',', instances.GetProperty("instances").EnumerateArray()
            .Select(i => $"{i.GetProperty("id").GetString()}={i.GetProperty("address").GetString()}").Order(StringComparer.Ordinal));

    private static async Task<long> LeaseOfAsync(EtcdClient etcd, string key)
    {
        var range = await etcd.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) });
        range.Kvs.Count.ShouldBe(1, key);
        return range.Kvs[0].Lease;
    }

    private static async Task SignAsync(HttpClient workload)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var answer = await CertificateAuthorityTests.SignAsync(workload, CertificateVersionTests.Csr(key, "CN=reviews"));
        answer.StatusCode.ShouldBe(HttpStatusCode.OK, answer.Body);
    }
}
