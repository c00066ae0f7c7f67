using System.Globalization;
using System.Text.Json.Nodes;
using Mesh.Testing;

namespace Mesh.Registry.Benchmarks;

/// <summary>What the run reads from each etcd member's <c>/metrics</c>.</summary>
internal static class EtcdMetrics
{
    /// <summary>
    /// WAL fsyncs and backend commits (count, total seconds) and the proposals committed, since each member started;
    /// the run takes differences over its windows.
    /// </summary>
    public static async Task<JsonArray> ReadAsync(EtcdCluster cluster, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var members = new JsonArray();
        for (var i = 0; i < cluster.Count; i++)
        {
            var text = await http.GetStringAsync(new Uri(cluster.ClientEndpoints[i], "/metrics"), cancellationToken);
            double Value(string name) => text.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
                .Select(l => double.Parse(l[(name.Length + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture)).FirstOrDefault();
            members.Add(new JsonObject
            {
                ["name"] = cluster.MemberName(i),
                ["isLeader"] = Value("etcd_server_is_leader") > 0,
                ["walFsyncs"] = Value("etcd_disk_wal_fsync_duration_seconds_count"),
                ["walFsyncSeconds"] = Value("etcd_disk_wal_fsync_duration_seconds_sum"),
                ["backendCommits"] = Value("etcd_disk_backend_commit_duration_seconds_count"),
                ["backendCommitSeconds"] = Value("etcd_disk_backend_commit_duration_seconds_sum"),
                ["proposalsCommitted"] = Value("etcd_server_proposals_committed_total"),
            });
        }

        return members;
    }
}
