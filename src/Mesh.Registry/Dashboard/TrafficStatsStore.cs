using System.Collections.Concurrent;
using Mesh.Client.Registry;
using Mesh.Registry.Contracts;
using Mesh.Registry.Rollouts;

namespace Mesh.Registry.Dashboard;

/// <summary>
/// The latest traffic numbers each instance sent with its renewal. Kept in memory only: they describe the last few
/// seconds, a restart loses nothing worth keeping, and the store's write path stays for leases and policies. One entry
/// per registered instance (a renewal replaces it), pruned when the instance is gone. With registry replicas on etcd,
/// the numbers travel with the renewal's lease key and every replica's mirror records them here, so each replica's
/// dashboard shows the traffic of instances that renew through the others.
/// </summary>
internal sealed class TrafficStatsStore(TimeProvider time, RolloutTrafficWindows rollouts)
{
    private readonly ConcurrentDictionary<(string Service, string Id), Received> _latest = new();
    private volatile bool _mirrored;

    public int Count => _latest.Count;

    /// <summary>A report as the renewal that carried it arrived at this registry.</summary>
    public void Record(string service, string id, TrafficStats stats)
    {
        _latest[(service, id)] = new Received(stats, time.GetUtcNow());
        if (!_mirrored)
        {
            rollouts.Add(stats);
        }
    }

    /// <summary>
    /// A report as the etcd store's mirror saw it written, whichever replica the renewal came to. Once a store mirrors
    /// reports, only these are summed for rollouts: the replica's own renewals come back through the mirror too, and
    /// counting them twice would double their weight.
    /// </summary>
    public void RecordMirrored(string service, string id, TrafficStats stats)
    {
        _mirrored = true;
        _latest[(service, id)] = new Received(stats, time.GetUtcNow());
        rollouts.Add(stats);
    }

    /// <summary>Says that the store will mirror every report (<see cref="RecordMirrored"/>); called before the first request.</summary>
    public void UseMirror() => _mirrored = true;

    public void Remove(string service, string id) => _latest.TryRemove((service, id), out _);

    /// <summary>
    /// Fills in certificate expiries and the service graph: per source service, destination and version, the rates
    /// summed over the source's instances, success from the summed errors, p50 weighted by requests and p99 the worst.
    /// </summary>
    public DashboardResponse Complete(DashboardResponse dashboard)
    {
        var listed = new HashSet<(string, string)>();
        var edges = new Dictionary<(string Source, string Destination, string? Version), EdgeSum>();
        foreach (var service in dashboard.Services)
        {
            foreach (var instance in service.Instances)
            {
                listed.Add((service.Name, instance.Id));
                if (!_latest.TryGetValue((service.Name, instance.Id), out var received))
                {
                    continue;
                }

                instance.CertificateExpiresAt = received.Stats.CertificateExpiresAt;

                // Numbers older than two leases describe traffic that has stopped, not traffic that is flowing.
                if (dashboard.Now - received.At > TimeSpan.FromSeconds(2.0 * instance.TtlSeconds) || instance.Health != "healthy")
                {
                    continue;
                }

                foreach (var d in received.Stats.Destinations ?? [])
                {
                    var key = (service.Name, d.Service, d.Version);
                    if (!edges.TryGetValue(key, out var sum))
                    {
                        edges[key] = sum = new EdgeSum();
                    }

                    sum.Add(d, received.Stats.WindowSeconds);
                }
            }
        }

        foreach (var key in _latest.Keys)
        {
            if (!listed.Contains(key))
            {
                _latest.TryRemove(key, out _);
            }
        }

        foreach (var ((source, destination, version), sum) in edges.OrderBy(e => e.Key.Source, StringComparer.Ordinal)
                     .ThenBy(e => e.Key.Destination, StringComparer.Ordinal).ThenBy(e => e.Key.Version, StringComparer.Ordinal))
        {
            dashboard.Edges.Add(new DashboardEdge
            {
                Source = source,
                Destination = destination,
                DestinationVersion = version,
                RequestsPerSecond = Math.Round(sum.Rate, 2),
                SuccessPercent = sum.Requests == 0 ? null : Math.Round(100.0 * (sum.Requests - sum.Errors) / sum.Requests, 2),
                P50Ms = sum.Requests == 0 || sum.P50Weight == 0 ? null : Math.Round(sum.P50Sum / sum.P50Weight, 3),
                P99Ms = sum.P99,
            });
        }

        return dashboard;
    }

    private sealed record Received(TrafficStats Stats, DateTimeOffset At);

    private sealed class EdgeSum
    {
        public double Rate { get; private set; }

        public long Requests { get; private set; }

        public long Errors { get; private set; }

        public double P50Sum { get; private set; }

        public double P50Weight { get; private set; }

        public double? P99 { get; private set; }

        /// <summary>
        /// The shortest window a rate is taken over: what clients send, rounded to milliseconds. A window a workload
        /// says is shorter (the renewal checks only that it is above 0) would make a rate no double holds, and the
        /// dashboard unanswerable for everyone.
        /// </summary>
        private const double MinWindowSeconds = 0.001;

        public void Add(DestinationStats d, double windowSeconds)
        {
            Rate += d.Requests / Math.Max(windowSeconds, MinWindowSeconds);
            Requests += d.Requests;
            Errors += d.Errors;
            if (d.P50Ms is { } p50)
            {
                P50Sum += p50 * d.Requests;
                P50Weight += d.Requests;
            }

            if (d.P99Ms is { } p99 && (P99 is null || p99 > P99))
            {
                P99 = p99;
            }
        }
    }
}
