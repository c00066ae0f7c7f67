using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mesh.Registry.Benchmarks;

/// <summary>
/// The run: start the registry, load the instances, park the watchers, make changes while the registry is quiet, then
/// renew leases as fast as the renewers go while more changes are made, reading the registry's memory along the way.
/// </summary>
internal sealed class Bench(Settings settings, TextWriter log) : IDisposable
{
    private const double GoalPropagationP99Ms = 250;
    private const double GoalHeartbeatsPerSecond = 10_000;

    private readonly JsonObject _results = [];
    private readonly List<string> _failures = [];
    private RegistryDeployment? _deployment;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var machine = Machine();
        log.WriteLine($"Mesh.Registry.Benchmarks ({settings.Preset ?? settings.Mode}, {settings.Store}): {settings.Instances} instances over {settings.Services} services, " +
                      $"{settings.Watchers} watchers, {settings.Renewers} renewers");
        log.WriteLine($"machine: {machine["cpus"]} CPUs ({machine["cpuModel"]}), {machine["runtime"]}, {machine["os"]}");
        _results["settings"] = JsonSerializer.SerializeToNode(new
        {
            settings.Mode,
            settings.Preset,
            settings.Store,
            settings.Replicas,
            EtcdMembers = settings.IsEtcd ? settings.EtcdMembers : 0,
            settings.Services,
            settings.InstancesPerService,
            settings.WatchersPerService,
            settings.TtlSeconds,
            settings.WatchWait,
            settings.QuietChanges,
            settings.LoadedChanges,
            ChangeSpacingMs = settings.ChangeSpacing.TotalMilliseconds,
            settings.Renewers,
            HeartbeatSeconds = settings.HeartbeatDuration.TotalSeconds,
            MemoryGoalBytes = settings.MemoryGoalBytes,
        });
        _results["machine"] = machine;
        _results["date"] = DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture);

        var dll = settings.RegistryDll ?? RegistryServer.FindDll();
        log.WriteLine($"registry: dotnet {dll}, store {settings.Store}, {settings.Replicas} process(es)");
        _results["registry"] = dll;
        var deployment = _deployment = await RegistryDeployment.StartAsync(settings, dll, log, cancellationToken);
        var servers = deployment.Servers;
        var replicas = new JsonArray();
        _results["replicas"] = replicas;
        foreach (var server in servers)
        {
            log.WriteLine($"registry {server.Name}: pid {server.Pid} at {server.Address}, {Mb(server.Memory().Rss)} MB RSS at start");
            replicas.Add(new JsonObject { ["name"] = server.Name, ["startRssBytes"] = server.Memory().Rss });
        }

        JsonObject Replica(int r) => (JsonObject)replicas[r]!;
        void Note(string key)
        {
            for (var r = 0; r < servers.Count; r++)
            {
                Replica(r)[key] = servers[r].Memory().Rss;
            }
        }

        string Rss() => string.Join(", ", servers.Select(s => $"{s.Name} {Mb(s.Memory().Rss)} MB"));

        var writers = servers.Select(s => Api.Client(s.Address, 64, TimeSpan.FromSeconds(30))).ToArray();
        var watcherClients = servers.Select(s => Api.Client(s.Address, int.MaxValue, TimeSpan.FromMinutes(2))).ToArray();
        var renewerClients = servers.Select(s => Api.Client(s.Address, settings.Renewers, TimeSpan.FromSeconds(30))).ToArray();
        using var stopWatchers = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        List<Task> watching = [];
        try
        {
            var instances = await LoadAsync(deployment, writers, cancellationToken);
            Note("afterLoadRssBytes");
            log.WriteLine($"registry RSS with {settings.Instances} instances: {Rss()}");

            var (watchers, byService, started) = await StartWatchersAsync(deployment, watcherClients, stopWatchers.Token, cancellationToken);
            watching = started;
            Note("afterWatchersRssBytes");
            log.WriteLine($"registry RSS with {settings.Instances} instances and {watchers.Count} parked watches: {Rss()}; threads " +
                          string.Join(", ", servers.Select(s => $"{s.Name} {s.Threads()}")));

            // Changes while nothing else happens: the propagation the registry itself adds.
            log.WriteLine($"quiet: {settings.QuietChanges} changes, {settings.ChangeSpacing.TotalMilliseconds} ms apart");
            var pollsBefore = watchers.Sum(w => w.Polls);
            var quietChanges = await ChangeAsync(deployment, writers, "quiet", settings.QuietChanges, settings.ChangeSpacing, k => 2 * k, TimeSpan.Zero, cancellationToken);
            await CatchUpAsync(quietChanges, byService, cancellationToken);
            var quiet = PropagationResult.Analyze(quietChanges, byService);
            Report("quiet", quiet, quietChanges, byService);

            // Wake-ups are per service: a change answers that service's watchers and no one else's. A global signal
            // would answer every parked watch per change instead of its service's few.
            var answersPerChange = (watchers.Sum(w => w.Polls) - pollsBefore) / (double)Math.Max(1, quietChanges.Count);
            log.WriteLine($"quiet: {answersPerChange:F2} watch answers per change ({settings.WatchersPerService} watchers per service)");
            _results["quiet"]!["watchAnswersPerChange"] = answersPerChange;

            // Heartbeats as fast as the renewers go, and changes spread over the same window.
            var renewers = new Renewers(renewerClients, instances, deployment.JoinTokens);
            var loadedSpacing = settings.HeartbeatDuration / Math.Max(1, settings.LoadedChanges);
            log.WriteLine($"heartbeats: {settings.Renewers} renewers for {settings.HeartbeatWarmup.TotalSeconds} s warm-up + {settings.HeartbeatDuration.TotalSeconds} s, " +
                          $"{settings.LoadedChanges} changes {loadedSpacing.TotalMilliseconds} ms apart");
            var etcdBefore = deployment.Etcd is { } cluster ? await EtcdMetrics.ReadAsync(cluster, cancellationToken) : null;
            var renewing = renewers.RunAsync(settings.Renewers, settings.HeartbeatWarmup, settings.HeartbeatDuration, cancellationToken);
            var cpu = MeasureCpuAsync(deployment, cancellationToken);
            var loadedChangesTask = ChangeAsync(deployment, writers, "loaded", settings.LoadedChanges, loadedSpacing, k => (2 * k) + 1, settings.HeartbeatWarmup,
                cancellationToken);
            var peakRss = servers.Select(s => SampleRssAsync(s, renewing, cancellationToken)).ToArray();
            var renewal = await renewing;
            var loadedChanges = await loadedChangesTask;
            var (registryCpu, etcdCpu, benchCpu) = await cpu;
            var sampledPeaks = await Task.WhenAll(peakRss);
            if (deployment.Etcd is { } etcdCluster && etcdBefore is not null)
            {
                ReportEtcd(etcdBefore, await EtcdMetrics.ReadAsync(etcdCluster, cancellationToken));
            }

            await CatchUpAsync(loadedChanges, byService, cancellationToken);
            var loaded = PropagationResult.Analyze(loadedChanges, byService);
            Report("underHeartbeats", loaded, loadedChanges, byService);
            ReportRenewals(renewal, registryCpu, etcdCpu, benchCpu);

            long peak = 0;
            for (var r = 0; r < servers.Count; r++)
            {
                var (endRss, hwm) = servers[r].Memory();
                var replica = Replica(r);
                replica["heartbeatPeakRssBytes"] = sampledPeaks[r];
                replica["endRssBytes"] = endRss;
                replica["peakHwmBytes"] = hwm;

                // The kernel updates VmHWM lazily (RSS counters are cached per thread), so a sample of VmRSS can be a
                // little above it: the peak is the larger of the two.
                var replicaPeak = Math.Max(hwm, sampledPeaks[r]);
                replica["peakBytes"] = replicaPeak;
                replica["threads"] = servers[r].Threads();
                peak = Math.Max(peak, replicaPeak);
                log.WriteLine($"registry {servers[r].Name}: memory peak {Mb(replicaPeak)} MB, at the end {Mb(endRss)} MB");
                if (servers[r].HasExited)
                {
                    _failures.Add($"registry {servers[r].Name} exited during the run");
                }
            }

            if (deployment.Etcd is { } etcd)
            {
                var members = Enumerable.Range(0, etcd.Count).Select(i => (Name: etcd.MemberName(i), Hwm: RegistryServer.Memory(etcd.ProcessId(i)).Hwm)).ToArray();
                _results["etcd"] = new JsonArray([.. members.Select(m => (JsonNode)new JsonObject
                {
                    ["name"] = m.Name,
                    ["peakHwmBytes"] = m.Hwm,
                })]);
                log.WriteLine("etcd memory peak: " + string.Join(", ", members.Select(m => $"{m.Name} {Mb(m.Hwm)} MB")));
            }

            var watcherErrors = watchers.Sum(w => w.Errors);
            _results["watchers"] = new JsonObject
            {
                ["count"] = watchers.Count,
                ["polls"] = watchers.Sum(w => w.Polls),
                ["errors"] = watcherErrors,
            };
            if (watcherErrors > 0)
            {
                _failures.Add($"{watcherErrors} watch polls failed");
            }

            return Summarize(quiet, loaded, renewal, peak);
        }
        finally
        {
            await stopWatchers.CancelAsync();
            await Task.WhenAll(watching);
            foreach (var client in writers.Concat(watcherClients).Concat(renewerClients))
            {
                client.Dispose();
            }
        }
    }

    public void Dispose() => _deployment?.Dispose();

    /// <summary>Registers every instance (201 each), <see cref="Settings.LoadConcurrency"/> at a time, through the replicas in turn.</summary>
    private async Task<Instance[]> LoadAsync(RegistryDeployment deployment, HttpClient[] clients, CancellationToken cancellationToken)
    {
        var instances = new Instance[settings.Instances];
        for (var s = 0; s < settings.Services; s++)
        {
            for (var n = 0; n < settings.InstancesPerService; n++)
            {
                instances[(s * settings.InstancesPerService) + n] = Instance.Create(s, n, settings.TtlSeconds);
            }
        }

        var clock = Stopwatch.StartNew();
        var failed = 0;
        var next = -1;
        await Parallel.ForEachAsync(instances, new ParallelOptions { MaxDegreeOfParallelism = settings.LoadConcurrency, CancellationToken = cancellationToken },
            async (instance, ct) =>
            {
                var client = clients[(int)((uint)Interlocked.Increment(ref next) % (uint)clients.Length)];
                using var request = Api.Put(instance.Path, instance.Body, deployment.JoinTokens[instance.Service]);
                using var response = await client.SendAsync(request, ct);
                if (response.StatusCode != HttpStatusCode.Created && Interlocked.Increment(ref failed) <= 3)
                {
                    Console.Error.WriteLine($"register {instance.Path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
                }
            });
        var rate = instances.Length / clock.Elapsed.TotalSeconds;
        log.WriteLine($"load: {instances.Length} registrations in {clock.Elapsed.TotalSeconds:F1} s ({rate:F0}/s), {failed} failed");
        _results["load"] = new JsonObject { ["registrations"] = instances.Length, ["seconds"] = clock.Elapsed.TotalSeconds, ["perSecond"] = rate, ["failed"] = failed };
        if (failed > 0)
        {
            _failures.Add($"{failed} registrations failed");
        }

        return instances;
    }

    /// <summary>
    /// Starts <see cref="Settings.WatchersPerService"/> watchers per service, a few at a time so the connection burst
    /// stays inside the listen backlog, and waits (bounded) until each has its first answer and a long poll out. The
    /// watchers alternate between the replicas, so each service has watchers on each (with 2 replicas and 4 per service, 2 and 2).
    /// </summary>
    private async Task<(List<Watcher> Watchers, IReadOnlyList<Watcher>[] ByService, List<Task> Tasks)> StartWatchersAsync(RegistryDeployment deployment,
        HttpClient[] clients, CancellationToken stop, CancellationToken cancellationToken)
    {
        var watchers = new List<Watcher>(settings.Watchers);
        var byService = new List<Watcher>[settings.Services];
        var tasks = new List<Task>(settings.Watchers);
        for (var s = 0; s < settings.Services; s++)
        {
            byService[s] = [];
            for (var w = 0; w < settings.WatchersPerService; w++)
            {
                var watcher = new Watcher(s, watchers.Count % clients.Length);
                watchers.Add(watcher);
                byService[s].Add(watcher);
            }
        }

        var clock = Stopwatch.StartNew();
        const int batch = 50;
        for (var i = 0; i < watchers.Count; i++)
        {
            var watcher = watchers[i];
            tasks.Add(Task.Run(() => watcher.RunAsync(clients[watcher.Replica], deployment.JoinTokens[watcher.Service], settings.WatchWait, stop), CancellationToken.None));
            if (i % batch == batch - 1)
            {
                await Task.Delay(10, cancellationToken);
            }
        }

        while (clock.Elapsed < settings.WatcherStartTimeout && watchers.Any(w => w.Index < 0 || !w.Parked))
        {
            await Task.Delay(100, cancellationToken);
        }

        var ready = watchers.Count(w => w.Index >= 0 && w.Parked);
        if (ready < watchers.Count)
        {
            _failures.Add($"only {ready} of {watchers.Count} watchers got going");
        }

        // The long polls are sent; give the last of them a moment to reach the registry and park there.
        await Task.Delay(TimeSpan.FromSeconds(settings.Mode == "smoke" ? 0.5 : 2), cancellationToken);
        log.WriteLine($"watchers: {ready} of {watchers.Count} parked after {clock.Elapsed.TotalSeconds:F1} s");
        return (watchers, byService, tasks);
    }

    /// <summary>
    /// Makes <paramref name="count"/> changes, <paramref name="spacing"/> apart: each registers a new instance of one
    /// service (chosen by <paramref name="service"/>, so the quiet and loaded phases use different services), and notes
    /// the index the registry answered with and when the 2xx arrived. Change k goes through replica k mod replicas.
    /// </summary>
    private async Task<List<Change>> ChangeAsync(RegistryDeployment deployment, HttpClient[] clients, string phase, int count, TimeSpan spacing, Func<int, int> service,
        TimeSpan delay, CancellationToken cancellationToken)
    {
        await Task.Delay(delay, cancellationToken);
        var changes = new List<Change>(count);
        var clock = Stopwatch.StartNew();
        for (var k = 0; k < count; k++)
        {
            var next = spacing * k;
            if (next > clock.Elapsed)
            {
                await Task.Delay(next - clock.Elapsed, cancellationToken);
            }

            var s = service(k) % settings.Services;
            var instance = Instance.Create(s, 100_000 + k, settings.TtlSeconds) with { Id = $"{phase}-{k.ToString(CultureInfo.InvariantCulture)}" };
            var replica = k % clients.Length;
            using var request = Api.Put(instance.Path, instance.Body, deployment.JoinTokens[s]);
            using var response = await clients[replica].SendAsync(request, cancellationToken);
            var acked = Stopwatch.GetTimestamp();
            if (response.StatusCode != HttpStatusCode.Created)
            {
                _failures.Add($"{phase} change {k}: {(int)response.StatusCode}");
                continue;
            }

            changes.Add(new Change(s, Api.Index(response), acked, replica));
        }

        return changes;
    }

    /// <summary>Waits (at most <see cref="Settings.CatchUp"/>) until every watcher of a changed service has seen its change.</summary>
    private async Task CatchUpAsync(List<Change> changes, IReadOnlyList<Watcher>[] byService, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < settings.CatchUp && changes.Any(c => byService[c.Service].Any(w => w.Index < c.Index)))
        {
            await Task.Delay(50, cancellationToken);
        }
    }

    /// <summary>The CPU time of each registry, of each etcd member and of this process over the heartbeats' measured window.</summary>
    private async Task<(TimeSpan[] Registry, TimeSpan[] Etcd, TimeSpan Bench)> MeasureCpuAsync(RegistryDeployment deployment, CancellationToken cancellationToken)
    {
        await Task.Delay(settings.HeartbeatWarmup, cancellationToken);
        int[] etcdPids = deployment.Etcd is { } cluster ? [.. Enumerable.Range(0, cluster.Count).Select(cluster.ProcessId)] : [];
        var registry = deployment.Servers.Select(s => s.CpuTime()).ToArray();
        var etcd = etcdPids.Select(RegistryServer.CpuTime).ToArray();
        var self = Process.GetCurrentProcess().TotalProcessorTime;
        await Task.Delay(settings.HeartbeatDuration, cancellationToken);
        return (
            [.. deployment.Servers.Select((s, i) => s.CpuTime() - registry[i])],
            [.. etcdPids.Select((pid, i) => RegistryServer.CpuTime(pid) - etcd[i])],
            Process.GetCurrentProcess().TotalProcessorTime - self);
    }

    private static async Task<long> SampleRssAsync(RegistryServer server, Task until, CancellationToken cancellationToken)
    {
        long peak = 0;
        for (var i = 0; i < 10_000 && !until.IsCompleted; i++)
        {
            peak = Math.Max(peak, server.Memory().Rss);
            await Task.WhenAny(until, Task.Delay(250, cancellationToken));
        }

        return peak;
    }

    private void Report(string name, PropagationResult p, IReadOnlyList<Change> changes, IReadOnlyList<Watcher>[] byService)
    {
        log.WriteLine($"{name}: {p.Changes} changes, {p.Pairs} (change, watcher) pairs, {p.Missed} missed; " +
                      $"all pairs p50 {Stats.Percentile(p.PairMs, 50):F1} ms p99 {Stats.Percentile(p.PairMs, 99):F1} ms; " +
                      $"last watcher p50 {Stats.Percentile(p.LastMs, 50):F1} ms p99 {Stats.Percentile(p.LastMs, 99):F1} ms max {Stats.Max(p.LastMs):F1} ms");
        var result = new JsonObject
        {
            ["changes"] = p.Changes,
            ["pairs"] = p.Pairs,
            ["missed"] = p.Missed,
            ["pairP50Ms"] = Number(Stats.Percentile(p.PairMs, 50)),
            ["pairP99Ms"] = Number(Stats.Percentile(p.PairMs, 99)),
            ["lastP50Ms"] = Number(Stats.Percentile(p.LastMs, 50)),
            ["lastP99Ms"] = Number(Stats.Percentile(p.LastMs, 99)),
            ["lastMaxMs"] = Number(Stats.Max(p.LastMs)),
        };
        _results[name] = result;
        if (settings.Replicas > 1)
        {
            // Per replica: the last of that replica's watchers, for every change (made through any replica), and the same
            // split by whether the change was made through the watchers' own replica or another.
            var perReplica = new JsonArray();
            for (var r = 0; r < settings.Replicas; r++)
            {
                var replica = r;
                var all = PropagationResult.Analyze(changes, byService, w => w.Replica == replica);
                var same = PropagationResult.Analyze([.. changes.Where(c => c.Replica == replica)], byService, w => w.Replica == replica);
                var other = PropagationResult.Analyze([.. changes.Where(c => c.Replica != replica)], byService, w => w.Replica == replica);
                log.WriteLine($"{name}, watchers on r{r}: last watcher p50 {Stats.Percentile(all.LastMs, 50):F1} ms p99 {Stats.Percentile(all.LastMs, 99):F1} ms " +
                              $"max {Stats.Max(all.LastMs):F1} ms; changes written through r{r} p99 {Stats.Percentile(same.LastMs, 99):F1} ms, " +
                              $"through another replica p99 {Stats.Percentile(other.LastMs, 99):F1} ms");
                perReplica.Add(new JsonObject
                {
                    ["name"] = $"r{r}",
                    ["pairs"] = all.Pairs,
                    ["lastP50Ms"] = Number(Stats.Percentile(all.LastMs, 50)),
                    ["lastP99Ms"] = Number(Stats.Percentile(all.LastMs, 99)),
                    ["lastMaxMs"] = Number(Stats.Max(all.LastMs)),
                    ["sameReplicaLastP99Ms"] = Number(Stats.Percentile(same.LastMs, 99)),
                    ["otherReplicaLastP99Ms"] = Number(Stats.Percentile(other.LastMs, 99)),
                });
            }

            result["perReplica"] = perReplica;
        }

        if (p.Missed > 0)
        {
            _failures.Add($"{name}: {p.Missed} (change, watcher) pairs never saw the change");
        }
    }

    /// <summary>What etcd did over the heartbeat phase (warm-up included): fsyncs, their mean time, proposals.</summary>
    private void ReportEtcd(JsonArray before, JsonArray after)
    {
        var members = new JsonArray();
        for (var i = 0; i < after.Count; i++)
        {
            double Delta(string key) => after[i]![key]!.GetValue<double>() - before[i]![key]!.GetValue<double>();
            var fsyncs = Delta("walFsyncs");
            var commits = Delta("backendCommits");
            var fsyncMs = fsyncs == 0 ? double.NaN : Delta("walFsyncSeconds") * 1000 / fsyncs;
            var commitMs = commits == 0 ? double.NaN : Delta("backendCommitSeconds") * 1000 / commits;
            var name = after[i]!["name"]!.GetValue<string>();
            var leader = after[i]!["isLeader"]!.GetValue<bool>();
            log.WriteLine($"etcd {name}{(leader ? " (leader)" : "")} over the heartbeats: {fsyncs:F0} WAL fsyncs, mean {fsyncMs:F2} ms; " +
                          $"{commits:F0} backend commits, mean {commitMs:F2} ms; {Delta("proposalsCommitted"):F0} proposals committed");
            members.Add(new JsonObject
            {
                ["name"] = name,
                ["isLeader"] = leader,
                ["walFsyncs"] = fsyncs,
                ["walFsyncMeanMs"] = Number(fsyncMs),
                ["backendCommits"] = commits,
                ["backendCommitMeanMs"] = Number(commitMs),
                ["proposalsCommitted"] = Delta("proposalsCommitted"),
            });
        }

        _results["etcdDuringHeartbeats"] = members;
    }

    private void ReportRenewals(RenewalResult r, TimeSpan[] registryCpu, TimeSpan[] etcdCpu, TimeSpan benchCpu)
    {
        var totalRegistryCpu = registryCpu.Aggregate(TimeSpan.Zero, (a, b) => a + b);
        var perRenewalUs = r.Renewals == 0 ? double.NaN : totalRegistryCpu.TotalMicroseconds / r.Renewals;
        log.WriteLine($"heartbeats: {r.Renewals} renewals in {r.Window.TotalSeconds:F0} s = {r.PerSecond:F0}/s, {r.Errors} errors, {r.Unexpected} not 200; " +
                      $"latency p50 {Stats.Percentile(r.LatenciesMs, 50):F2} ms p99 {Stats.Percentile(r.LatenciesMs, 99):F2} ms; " +
                      $"registry CPU {totalRegistryCpu.TotalSeconds:F1} s ({perRenewalUs:F0} µs/renewal), benchmark CPU {benchCpu.TotalSeconds:F1} s" +
                      (etcdCpu.Length > 0 ? $", etcd CPU {string.Join(" + ", etcdCpu.Select(c => c.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)))} s" : ""));
        var perReplica = new JsonArray();
        for (var i = 0; i < r.PerReplica.Length; i++)
        {
            var replica = r.PerReplica[i];
            if (r.PerReplica.Length > 1)
            {
                log.WriteLine($"heartbeats through r{i}: {replica.Renewals / r.Window.TotalSeconds:F0}/s, latency p50 {Stats.Percentile(replica.LatenciesMs, 50):F2} ms " +
                              $"p99 {Stats.Percentile(replica.LatenciesMs, 99):F2} ms, registry CPU {registryCpu[i].TotalSeconds:F1} s");
            }

            perReplica.Add(new JsonObject
            {
                ["name"] = $"r{i}",
                ["renewals"] = replica.Renewals,
                ["perSecond"] = replica.Renewals / r.Window.TotalSeconds,
                ["p50Ms"] = Number(Stats.Percentile(replica.LatenciesMs, 50)),
                ["p99Ms"] = Number(Stats.Percentile(replica.LatenciesMs, 99)),
                ["registryCpuSeconds"] = registryCpu[i].TotalSeconds,
            });
        }

        _results["heartbeats"] = new JsonObject
        {
            ["renewals"] = r.Renewals,
            ["seconds"] = r.Window.TotalSeconds,
            ["perSecond"] = r.PerSecond,
            ["errors"] = r.Errors,
            ["not200"] = r.Unexpected,
            ["p50Ms"] = Number(Stats.Percentile(r.LatenciesMs, 50)),
            ["p99Ms"] = Number(Stats.Percentile(r.LatenciesMs, 99)),
            ["registryCpuSeconds"] = totalRegistryCpu.TotalSeconds,
            ["benchmarkCpuSeconds"] = benchCpu.TotalSeconds,
            ["etcdCpuSeconds"] = new JsonArray([.. etcdCpu.Select(c => (JsonNode)JsonValue.Create(c.TotalSeconds))]),
            ["registryCpuUsPerRenewal"] = Number(perRenewalUs),
            ["perReplica"] = perReplica,
        };
        if (r.Errors > 0 || r.Unexpected > 0)
        {
            _failures.Add($"heartbeats: {r.Errors} errors, {r.Unexpected} answers other than 200");
        }

        if (r.Renewals == 0)
        {
            _failures.Add("heartbeats: no renewal completed in the measured window");
        }
    }

    private int Summarize(PropagationResult quiet, PropagationResult loaded, RenewalResult renewal, long peakMemory)
    {
        var quietP99 = Stats.Percentile(quiet.LastMs, 99);
        var loadedP99 = Stats.Percentile(loaded.LastMs, 99);
        var goals = new (string Name, string Goal, string Measured, bool Met)[]
        {
            ("change → last watcher, p99 (quiet)", $"≤ {GoalPropagationP99Ms} ms", $"{quietP99:F1} ms (p50 {Stats.Percentile(quiet.LastMs, 50):F1})", quietP99 <= GoalPropagationP99Ms),
            ("change → last watcher, p99 (during heartbeats)", $"≤ {GoalPropagationP99Ms} ms", $"{loadedP99:F1} ms (p50 {Stats.Percentile(loaded.LastMs, 50):F1})",
                loadedP99 <= GoalPropagationP99Ms),
            ("heartbeats sustained", $"≥ {GoalHeartbeatsPerSecond:N0}/s", $"{renewal.PerSecond:N0}/s", renewal.PerSecond >= GoalHeartbeatsPerSecond),
            (settings.Replicas > 1 ? "registry memory, peak of the replicas (VmHWM)" : "registry memory, peak (VmHWM)", $"≤ {Mb(settings.MemoryGoalBytes)} MB",
                $"{Mb(peakMemory)} MB", peakMemory <= settings.MemoryGoalBytes),
        };
        _results["goals"] = new JsonArray([.. goals.Select(g => (JsonNode)new JsonObject
        {
            ["name"] = g.Name,
            ["goal"] = g.Goal,
            ["measured"] = g.Measured,
            ["met"] = g.Met,
        })]);
        _results["failures"] = new JsonArray([.. _failures.Select(f => (JsonNode)JsonValue.Create(f))]);

        log.WriteLine();
        log.WriteLine("| measure | goal | measured | met |");
        log.WriteLine("| --- | --- | --- | --- |");
        foreach (var g in goals)
        {
            log.WriteLine($"| {g.Name} | {g.Goal} | {g.Measured} | {(g.Met ? "yes" : "no")} |");
        }

        if (settings.Mode == "smoke")
        {
            log.WriteLine("(smoke run: the goals are for the full run; only failures count here)");
        }

        if (settings.JsonPath is { } path)
        {
            File.WriteAllText(path, _results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            log.WriteLine($"results: {path}");
        }

        foreach (var failure in _failures)
        {
            log.WriteLine($"FAILURE: {failure}");
        }

        if (_failures.Count > 0)
        {
            log.WriteLine($"The registry's last output:\n{_deployment?.Output}");
            return 1;
        }

        return settings.CheckGoals && goals.Any(g => !g.Met) ? 2 : 0;
    }

    private static JsonObject Machine()
    {
        var model = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return new JsonObject
        {
            ["cpus"] = Environment.ProcessorCount,
            ["cpuModel"] = model ?? "unknown",
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["os"] = RuntimeInformation.OSDescription,
            ["memoryBytes"] = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
        };
    }

    private static JsonValue? Number(double value) => double.IsFinite(value) ? JsonValue.Create(Math.Round(value, 3)) : null;

    private static string Mb(long bytes) => (bytes / 1e6).ToString("F0", CultureInfo.InvariantCulture);
}
