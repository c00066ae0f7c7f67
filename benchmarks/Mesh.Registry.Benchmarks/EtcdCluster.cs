using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Mesh.Registry.Benchmarks;

/// <summary>
/// A real etcd cluster on 127.0.0.1 for <c>--store etcd</c>: <c>etcd</c> processes (Debian's etcd-server) on ports
/// found free by binding port 0, each with its data folder in the run's folder, with etcd's default
/// Raft timings and fsync on (its default), as a production cluster runs. Disposing kills every member; the caller
/// deletes the folder.
/// </summary>
internal sealed class EtcdCluster : IDisposable
{
    private const int Attempts = 3;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly EtcdMember[] _members;

    private EtcdCluster(EtcdMember[] members) => _members = members;

    public IReadOnlyList<EtcdMember> Members => _members;

    public IReadOnlyList<Uri> ClientEndpoints => [.. _members.Select(m => m.ClientUrl)];

    public string Output
    {
        get
        {
            var text = new StringBuilder();
            foreach (var member in _members)
            {
                text.Append("--- etcd ").Append(member.Name).Append(" (").Append(member.ClientUrl).AppendLine(") ---").AppendLine(member.Output);
            }

            return text.ToString();
        }
    }

    public static async Task<EtcdCluster> StartAsync(int members, string directory, CancellationToken cancellationToken)
    {
        var etcd = EtcdMember.FindEtcd()
            ?? throw new InvalidOperationException("--store etcd needs the etcd binary on PATH (Debian: apt-get install etcd-server).");
        for (var attempt = 1; ; attempt++)
        {
            // Fresh ports, folders and token each attempt: members of a failed attempt may have recorded their peers.
            var token = "mesh-registry-bench-" + Guid.NewGuid().ToString("N");
            var ports = FreePorts(2 * members);
            var cluster = new EtcdCluster([.. Enumerable.Range(0, members).Select(i => new EtcdMember(
                $"m{i.ToString(CultureInfo.InvariantCulture)}",
                Path.Combine(directory, $"etcd-{attempt.ToString(CultureInfo.InvariantCulture)}", $"m{i.ToString(CultureInfo.InvariantCulture)}"),
                ports[2 * i], ports[(2 * i) + 1]))]);
            var initial = string.Join(',', cluster._members.Select(m => $"{m.Name}={m.PeerUrl}"));
            try
            {
                foreach (var m in cluster._members)
                {
                    m.Start(etcd,
                    [
                        "--name", m.Name,
                        "--data-dir", m.DataDirectory,
                        "--listen-client-urls", m.ClientUrl.ToString().TrimEnd('/'),
                        "--advertise-client-urls", m.ClientUrl.ToString().TrimEnd('/'),
                        "--listen-peer-urls", m.PeerUrl,
                        "--initial-advertise-peer-urls", m.PeerUrl,
                        "--initial-cluster", initial,
                        "--initial-cluster-token", token,
                        "--initial-cluster-state", "new",
                        "--logger", "zap",
                        "--log-level", "warn",
                    ]);
                }

                await cluster.WaitHealthyAsync(cancellationToken);
                return cluster;
            }
            catch (InvalidOperationException) when (attempt < Attempts && cluster.Output.Contains("address already in use", StringComparison.Ordinal))
            {
                // Another process bound one of the ports between their release and etcd's bind: pick others.
                cluster.Dispose();
            }
            catch
            {
                cluster.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// From each member's <c>/metrics</c>: WAL fsyncs and backend commits (count, mean ms) and the proposals committed,
    /// since the member started; the run takes differences over its windows.
    /// </summary>
    public async Task<JsonArray> MetricsAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var members = new JsonArray();
        foreach (var member in _members)
        {
            var text = await http.GetStringAsync(new Uri(member.ClientUrl, "/metrics"), cancellationToken);
            double Value(string name) => text.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
                .Select(l => double.Parse(l[(name.Length + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture)).FirstOrDefault();
            members.Add(new JsonObject
            {
                ["name"] = member.Name,
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

    public void Dispose()
    {
        foreach (var member in _members)
        {
            member.Dispose();
        }
    }

    /// <summary>Until every member answers <c>/health</c> with a leader and a quorum read.</summary>
    private async Task WaitHealthyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        var pending = _members.ToList();
        while (pending.Count > 0)
        {
            foreach (var member in pending.ToList())
            {
                if (member.HasExited)
                {
                    throw new InvalidOperationException($"etcd member {member.Name} exited while starting.\n{Output}");
                }

                try
                {
                    using var response = await http.GetAsync(new Uri(member.ClientUrl, "/health"), cancellationToken);
                    if (response.StatusCode == HttpStatusCode.OK &&
                        (await response.Content.ReadAsStringAsync(cancellationToken)).Contains("\"health\":\"true\"", StringComparison.Ordinal))
                    {
                        pending.Remove(member);
                    }
                }
                catch (HttpRequestException)
                {
                    // not listening yet
                }
                catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // electing
                }
            }

            if (pending.Count > 0)
            {
                if (clock.Elapsed > StartTimeout)
                {
                    throw new TimeoutException($"etcd members {string.Join(", ", pending.Select(m => m.Name))} not healthy within {StartTimeout.TotalSeconds:0} s.\n{Output}");
                }

                await Task.Delay(100, cancellationToken);
            }
        }
    }

    /// <summary>Distinct ports that were free a moment ago: all bound on port 0 at once, read, released.</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }
}
