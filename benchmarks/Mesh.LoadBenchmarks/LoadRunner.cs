using System.Diagnostics;
using Mesh.Benchmarks.Shared;

namespace Mesh.LoadBenchmarks;

/// <summary>What one closed-loop cell measured. Latencies in microseconds; CPU in milliseconds per 1,000 requests.</summary>
internal sealed record CellResult
{
    public required string Variant { get; init; }
    public required int Concurrency { get; init; }
    public long Requests { get; init; }
    public long Errors { get; init; }
    public string? FirstError { get; init; }
    public double Seconds { get; init; }
    public double RequestsPerSecond { get; init; }
    public double P50Us { get; init; }
    public double P90Us { get; init; }
    public double P99Us { get; init; }
    public double MaxUs { get; init; }
    public double ClientCpuMsPer1k { get; init; }

    /// <summary>The kernel's part of <see cref="ClientCpuMsPer1k"/> (system time of the load generator).</summary>
    public double ClientKernelCpuMsPer1k { get; init; }

    public double ProxyCpuMsPer1k { get; init; }

    /// <summary>The backend process's CPU (user and kernel) per 1,000 requests, from 10 ms clock ticks.</summary>
    public double BackendCpuMsPer1k { get; init; }

    /// <summary>Every core's busy time per 1,000 requests (all processes, interrupts), from <c>/proc/stat</c>.</summary>
    public double MachineCpuMsPer1k { get; init; }

    /// <summary>Busy share of all cores over the measured windows, steal included (100 = saturated).</summary>
    public double MachineBusyPercent { get; init; }

    /// <summary>The share of all cores the hypervisor gave to other guests during the measured windows.</summary>
    public double StealPercent { get; init; }

    /// <summary>
    /// Thread-pool work items the load generator completed per request: each is a hand-off between threads (a
    /// socket completion, a continuation that could not run inline), whose wake-up shows in latency at low load.
    /// </summary>
    public double WorkItemsPerRequest { get; init; }

    /// <summary>The load generator's thread-pool threads, averaged over the starts and ends of the measured windows.</summary>
    public double ThreadPoolThreads { get; init; }

    /// <summary>Times per 1,000 requests a thread of the load generator waited for a <see cref="Monitor"/> lock another held.</summary>
    public double LockContentionsPer1k { get; init; }

    public double AllocatedBytesPerRequest { get; init; }
    public double Gen0Per1k { get; init; }
    public long ClientConnections { get; init; }
    public long CellRequests { get; init; }
    public double? TlsHandshakesPer10k { get; set; }
    public double? AddedP50Us { get; set; }
    public double? AddedP90Us { get; set; }
    public double? AddedP99Us { get; set; }

    /// <summary>Machine CPU per 1,000 requests over the floor's: what saturated cores turn into latency.</summary>
    public double? AddedMachineCpuMsPer1k { get; set; }

    /// <summary>
    /// The measured windows of the cell's rounds as [start, end] on the monotonic clock in nanoseconds (perf's
    /// <c>-k mono</c> clock), so that a CPU profile of the run can be cut into cells (<c>cpu-report</c>).
    /// </summary>
    public IReadOnlyList<long[]> WindowsNs { get; init; } = [];

    /// <summary>gRPC variants: Echo calls the backend served on each of the variant's listeners, warm-ups included.</summary>
    public IReadOnlyList<long>? BackendCallsPerEndpoint { get; init; }

    /// <summary>gRPC variants: connections the backend accepted on the variant's listeners (nginx's, behind nginx).</summary>
    public long? BackendConnections { get; init; }

    /// <summary>gRPC variants: set when the calls a round completed and the calls the backend served there differ.</summary>
    public string? DeliveryError { get; init; }
}

/// <summary>What the rounds of one cell measured, summed.</summary>
internal sealed class CellAccumulator
{
    public LatencyHistogram Histogram { get; } = new();

    public long Errors { get; set; }

    /// <summary>Requests completed, warm-ups included (the denominator of handshakes per 10,000 requests).</summary>
    public long Completed { get; set; }

    public string? FirstError { get; set; }

    public double Seconds { get; set; }

    public TimeSpan ClientCpu { get; set; }

    public TimeSpan ClientKernelCpu { get; set; }

    public TimeSpan ProxyCpu { get; set; }

    public TimeSpan BackendCpu { get; set; }

    public MachineTicks Machine { get; set; }

    public long WorkItems { get; set; }

    public long LockContentions { get; set; }

    public List<int> ThreadCounts { get; } = [];

    /// <summary>Bytes this process allocated while measuring: the client's allocations, the mesh's included.</summary>
    public long AllocatedBytes { get; set; }

    public long Gen0Collections { get; set; }

    public List<long[]> WindowsNs { get; } = [];

    public long[]? EndpointCalls { get; private set; }

    public long? EndpointConnections { get; private set; }

    public string? DeliveryError { get; private set; }

    /// <summary>
    /// Compares one round of a gRPC variant with the gRPC backend's counts before and after it: every call the round
    /// completed must have been served on one of <paramref name="listeners"/>, and no call anywhere else. A meshed
    /// call that skipped the mesh would arrive elsewhere, or nowhere.
    /// </summary>
    public void RecordDelivery(IReadOnlyList<int> listeners, StatsReply before, StatsReply after, long completed)
    {
        EndpointCalls ??= new long[listeners.Count];
        long served = 0;
        long elsewhere = 0;
        long connections = 0;
        for (var i = 0; i < after.Calls.Count; i++)
        {
            var calls = after.Calls[i] - before.Calls[i];
            var k = IndexOf(listeners, i);
            if (k < 0)
            {
                elsewhere += calls;
                continue;
            }

            EndpointCalls[k] += calls;
            served += calls;
            connections += after.Connections[i] - before.Connections[i];
        }

        EndpointConnections = (EndpointConnections ?? 0) + connections;
        if (served != completed || elsewhere != 0)
        {
            DeliveryError ??= $"a round completed {completed} calls; the backend served {served} on the variant's listeners and {elsewhere} on others";
        }
    }

    private static int IndexOf(IReadOnlyList<int> list, int value)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] == value)
            {
                return i;
            }
        }

        return -1;
    }

    public CellResult ToResult(string variant, int concurrency, long connections)
    {
        var requests = Histogram.Count;
        var perK = requests == 0 ? 0 : 1000.0 / requests;
        return new CellResult
        {
            Variant = variant,
            Concurrency = concurrency,
            Requests = requests,
            Errors = Errors,
            FirstError = FirstError,
            Seconds = Seconds,
            RequestsPerSecond = Seconds == 0 ? 0 : requests / Seconds,
            P50Us = Histogram.Percentile(50) / 1000.0,
            P90Us = Histogram.Percentile(90) / 1000.0,
            P99Us = Histogram.Percentile(99) / 1000.0,
            MaxUs = Histogram.Max / 1000.0,
            ClientCpuMsPer1k = ClientCpu.TotalMilliseconds * perK,
            ClientKernelCpuMsPer1k = ClientKernelCpu.TotalMilliseconds * perK,
            ProxyCpuMsPer1k = ProxyCpu.TotalMilliseconds * perK,
            BackendCpuMsPer1k = BackendCpu.TotalMilliseconds * perK,
            MachineCpuMsPer1k = CpuProbe.Ticks(Machine.Busy).TotalMilliseconds * perK,
            MachineBusyPercent = Percent(Machine.Busy + Machine.Steal, Machine.Busy + Machine.Idle + Machine.Steal),
            StealPercent = Percent(Machine.Steal, Machine.Busy + Machine.Idle + Machine.Steal),
            WorkItemsPerRequest = requests == 0 ? 0 : (double)WorkItems / requests,
            LockContentionsPer1k = LockContentions * perK,
            ThreadPoolThreads = ThreadCounts.Count == 0 ? 0 : ThreadCounts.Average(),
            AllocatedBytesPerRequest = requests == 0 ? 0 : (double)AllocatedBytes / requests,
            Gen0Per1k = Gen0Collections * perK,
            ClientConnections = connections,
            CellRequests = Completed,
            WindowsNs = WindowsNs,
            BackendCallsPerEndpoint = EndpointCalls,
            BackendConnections = EndpointConnections,
            DeliveryError = DeliveryError,
        };
    }

    private static double Percent(long part, long whole) => whole == 0 ? 0 : 100.0 * part / whole;
}

/// <summary>
/// Closed-loop load: <c>concurrency</c> workers, each sending its next request when the last one's body has been read.
/// A warm-up first (connections, JIT, the mesh's first model), then the measured window: only requests started in
/// it are recorded. Each worker records into its own histogram; they are merged at the end.
/// </summary>
internal static class LoadRunner
{
    private const int Warmup = 0;
    private const int Measure = 1;
    private const int Stop = 2;

    /// <summary>One closed-loop cell in one go (the balancer's runs).</summary>
    public static async Task<CellResult> RunClosedAsync(string variant, BenchClient client, int concurrency, TimeSpan warmup,
        TimeSpan duration, CpuProbe cpu, CancellationToken cancellationToken, Action? measureStarts = null)
    {
        var cell = new CellAccumulator();
        await RunRoundAsync(client, concurrency, warmup, duration, cpu, cell, cancellationToken, measureStarts: measureStarts);
        return cell.ToResult(variant, concurrency, client.ConnectionsOpened);
    }

    /// <summary>
    /// One round of a cell: warm up, then measure for <paramref name="duration"/>, adding what was measured to
    /// <paramref name="cell"/>. A cell measured in several rounds, interleaved with the other variants' rounds, sees
    /// the same background load as they do.
    /// </summary>
    public static async Task RunRoundAsync(BenchClient client, int concurrency, TimeSpan warmup, TimeSpan duration,
        CpuProbe cpu, CellAccumulator cell, CancellationToken cancellationToken, AllocationSampler? sampler = null, Action? measureStarts = null)
    {
        // Every round starts on a collected heap: the previous round's garbage (another variant's, often) is not
        // collected on this round's time.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);

        var phase = new Phase();
        var workers = new Worker[concurrency];
        var tasks = new Task[concurrency];
        for (var i = 0; i < concurrency; i++)
        {
            var worker = new Worker(client, phase);
            workers[i] = worker;
            tasks[i] = Task.Run(() => worker.RunAsync(cancellationToken), cancellationToken);
        }

        using var self = Process.GetCurrentProcess();
        await Task.Delay(warmup, cancellationToken);
        var cpu0 = cpu.Read(self);
        var allocated0 = GC.GetTotalAllocatedBytes(precise: false);
        var gen0 = GC.CollectionCount(0);
        var workItems0 = ThreadPool.CompletedWorkItemCount;
        var contentions0 = Monitor.LockContentionCount;
        cell.ThreadCounts.Add(ThreadPool.ThreadCount);
        var t0 = Stopwatch.GetTimestamp();
        sampler?.Start();
        measureStarts?.Invoke();
        Volatile.Write(ref phase.Value, Measure);
        await Task.Delay(duration, cancellationToken);
        Volatile.Write(ref phase.Value, Stop);
        sampler?.Stop();
        var t1 = Stopwatch.GetTimestamp();
        var cpu1 = cpu.Read(self);
        var allocated1 = GC.GetTotalAllocatedBytes(precise: false);
        var gen1 = GC.CollectionCount(0);
        var workItems1 = ThreadPool.CompletedWorkItemCount;
        var contentions1 = Monitor.LockContentionCount;
        cell.ThreadCounts.Add(ThreadPool.ThreadCount);
        await Task.WhenAll(tasks);

        foreach (var worker in workers)
        {
            cell.Histogram.Add(worker.Histogram);
            cell.Errors += worker.Errors;
            cell.Completed += worker.Completed;
            cell.FirstError ??= worker.FirstError;
        }

        cell.Seconds += Stopwatch.GetElapsedTime(t0, t1).TotalSeconds;
        cell.ClientCpu += cpu1.ClientUser + cpu1.ClientKernel - (cpu0.ClientUser + cpu0.ClientKernel);
        cell.ClientKernelCpu += cpu1.ClientKernel - cpu0.ClientKernel;
        cell.BackendCpu += cpu1.Backend - cpu0.Backend;
        cell.ProxyCpu += cpu1.Proxies - cpu0.Proxies;
        cell.Machine += cpu1.Machine - cpu0.Machine;
        cell.AllocatedBytes += allocated1 - allocated0;
        cell.Gen0Collections += gen1 - gen0;
        cell.WorkItems += workItems1 - workItems0;
        cell.LockContentions += contentions1 - contentions0;
        cell.WindowsNs.Add([MonotonicNs(t0), MonotonicNs(t1)]);
    }

    // Stopwatch reads CLOCK_MONOTONIC on Linux; its ticks are nanoseconds there, but convert in case they are not.
    private static long MonotonicNs(long timestamp) => (long)(timestamp * (1e9 / Stopwatch.Frequency));

    private sealed class Phase
    {
        public int Value = Warmup;
    }

    private sealed class Worker(BenchClient client, Phase phase)
    {
        private readonly byte[] _buffer = new byte[4096];

        public LatencyHistogram Histogram { get; } = new();

        public long Errors { get; private set; }

        public long Completed { get; private set; }

        public string? FirstError { get; private set; }

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var nanosecondsPerTick = 1e9 / Stopwatch.Frequency;
            while (true)
            {
                var current = Volatile.Read(ref phase.Value);
                if (current == Stop)
                {
                    return;
                }

                var start = Stopwatch.GetTimestamp();
                var error = client.IsGrpc ? await client.CallGrpcOnceAsync(cancellationToken) : await SendOnceAsync(cancellationToken);
                var elapsed = Stopwatch.GetTimestamp() - start;
                Completed++;
                if (error is not null)
                {
                    Errors++;
                    FirstError ??= error;
                }
                else if (current == Measure)
                {
                    Histogram.Record((long)(elapsed * nanosecondsPerTick));
                }
            }
        }

        private async Task<string?> SendOnceAsync(CancellationToken cancellationToken)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, client.Uri);
                using var response = await client.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
                var total = 0;
                int read;
                while ((read = await body.ReadAsync(_buffer, cancellationToken)) > 0)
                {
                    total += read;
                }

                if ((int)response.StatusCode != 200 || total != Backend.ResponseBytes)
                {
                    return $"status {(int)response.StatusCode}, {total} bytes";
                }

                return null;
            }
            catch (HttpRequestException e)
            {
                return e.Message;
            }
            catch (IOException e)
            {
                return e.Message;
            }
            catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                return "timeout: " + e.Message;
            }
        }
    }
}
