using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Mesh.LoadBenchmarks;

internal sealed record PendingVariant(string Name, string Description, string Reason);

internal sealed record Target(string Name, string Measured, bool Met);

/// <summary>The machine the run was on; the load average says how busy it was with other work.</summary>
internal sealed record Machine(string Date, string Cpu, int Cores, string LoadAverageStart, string Runtime, string Nginx, string? Commit)
{
    public string? LoadAverageEnd { get; set; }

    public static Machine Describe()
    {
        var cpu = "unknown";
        if (File.Exists("/proc/cpuinfo"))
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal))
                {
                    cpu = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                    break;
                }
            }
        }

        return new Machine(DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture), cpu, Environment.ProcessorCount,
            LoadAverage(), RuntimeInformation.FrameworkDescription, NginxVersion(), Environment.GetEnvironmentVariable("MESH_BENCH_COMMIT"));
    }

    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ')[..3]) : "unknown";

    private static string NginxVersion()
    {
        try
        {
            var start = new ProcessStartInfo(NginxProcess.Executable(), "-v") { RedirectStandardError = true, UseShellExecute = false };
            using var process = Process.Start(start)!;
            var text = process.StandardError.ReadToEnd().Trim();
            process.WaitForExit();
            return text.Replace("nginx version: ", string.Empty, StringComparison.Ordinal);
        }
        catch (FileNotFoundException)
        {
            return "not installed";
        }
    }
}

/// <summary>Everything one run measured, its targets, and the two ways it is written: markdown for the README, JSON for results/.</summary>
internal sealed class Report(Settings settings, Machine machine)
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    public Machine Machine { get; } = machine;

    public object Settings { get; } = new
    {
        settings.Smoke,
        settings.Concurrency,
        WarmupSeconds = settings.Warmup.TotalSeconds,
        DurationSeconds = settings.Duration.TotalSeconds,
        settings.Rounds,
        settings.Profile,
        ResponseBytes = Backend.ResponseBytes,
        settings.BalancerEndpoints,
        settings.BalancerDelayMs,
        settings.BalancerConcurrency,
        BalancerDurationSeconds = settings.BalancerDuration.TotalSeconds,
        settings.RetryRate,
        RetryDurationSeconds = settings.RetryDuration.TotalSeconds,
    };

    public List<CellResult> Cells { get; } = [];

    public List<PendingVariant> Pending { get; } = [];

    public List<BalancerResult> Balancer { get; } = [];

    public List<RetryResult> Retry { get; } = [];

    public List<Target> Targets { get; } = [];

    /// <summary>With --profile: bytes per request by type, per variant.</summary>
    public Dictionary<string, Dictionary<string, double>> Allocations { get; } = [];

    public static string DefaultPath(string kind)
    {
        var project = FindProjectDirectory();
        var stamp = DateTime.UtcNow.ToString("yyyy-MM-dd-HHmm", CultureInfo.InvariantCulture);
        return Path.Combine(project, "results", stamp + "-" + kind + ".json");
    }

    /// <summary>Latency added over each variant's floor, at the same concurrency.</summary>
    public void ComputeAdded(IReadOnlyList<Variant> variants)
    {
        foreach (var cell in Cells)
        {
            var floorName = Array.Find(variants.ToArray(), v => v.Name == cell.Variant)?.Floor;
            var floor = floorName is null ? null : Cells.Find(c => c.Variant == floorName && c.Concurrency == cell.Concurrency);
            if (floor is null)
            {
                continue;
            }

            cell.AddedP50Us = cell.P50Us - floor.P50Us;
            cell.AddedP90Us = cell.P90Us - floor.P90Us;
            cell.AddedP99Us = cell.P99Us - floor.P99Us;
            cell.AddedMachineCpuMsPer1k = cell.MachineCpuMsPer1k - floor.MachineCpuMsPer1k;
        }
    }

    /// <summary>Checks the run's targets against what was measured.</summary>
    public void Finish()
    {
        Machine.LoadAverageEnd = Machine.LoadAverage();
        foreach (var concurrency in settings.Concurrency)
        {
            var mesh = Find("mesh", concurrency);
            var nginx = Find("nginx", concurrency);
            if (mesh?.AddedP50Us is { } p50 && mesh.AddedP99Us is { } p99)
            {
                Targets.Add(new Target($"mesh adds ≤ 25 µs at p50 (c={concurrency})", Us(p50), p50 <= 25));
                Targets.Add(new Target($"mesh adds ≤ 100 µs at p99 (c={concurrency})", Us(p99), p99 <= 100));
                if (nginx?.AddedP50Us is { } n50 && nginx.AddedP99Us is { } n99)
                {
                    Targets.Add(new Target($"mesh-added ≤ 1/10 of one nginx hop's, p50 (c={concurrency})", Ratio(p50, n50), n50 > 0 && p50 <= n50 / 10));
                    Targets.Add(new Target($"mesh-added ≤ 1/10 of one nginx hop's, p99 (c={concurrency})", Ratio(p99, n99), n99 > 0 && p99 <= n99 / 10));
                }
            }
        }

        var healthy = Balancer.Find(b => b.Policy == "PeakEwma" && !b.OneSlow);
        var slow = Balancer.Find(b => b.Policy == "PeakEwma" && b.OneSlow);
        if (healthy is not null && slow is not null)
        {
            var ratio = slow.P99Us / healthy.P99Us;
            Targets.Add(new Target("PeakEwma p99 with one endpoint 10× slower ≤ 1.3 × all-healthy p99",
                string.Create(CultureInfo.InvariantCulture, $"{ratio:F2} × ({slow.P99Us / 1000:F2} ms vs {healthy.P99Us / 1000:F2} ms)"), ratio <= 1.3));
        }

        var budget = Retry.Find(r => r.Budget.StartsWith("0.2", StringComparison.Ordinal));
        if (budget is not null)
        {
            Targets.Add(new Target("retry amplification with the budget ≤ 1.2 × + 10/s + 100 reserve",
                string.Create(CultureInfo.InvariantCulture, $"{budget.AttemptsPerRequest:F3} attempts per request (bound {budget.AllowedPerRequest:F3})"),
                budget.Attempts <= budget.AllowedAttempts));
        }
    }

    /// <summary>What makes the run fail: errors where none are expected, or a scenario that measured nothing.</summary>
    public List<string> Problems()
    {
        var problems = new List<string>();
        foreach (var cell in Cells)
        {
            if (cell.Errors > 0 || cell.Requests == 0)
            {
                problems.Add($"{cell.Variant} c={cell.Concurrency}: {cell.Requests} requests, {cell.Errors} errors ({cell.FirstError})");
            }

            if (cell.DeliveryError is not null)
            {
                problems.Add($"{cell.Variant} c={cell.Concurrency}: {cell.DeliveryError}");
            }
        }

        foreach (var run in Balancer)
        {
            if (run.Errors > 0 || run.Requests == 0)
            {
                problems.Add($"balancer {run.Policy}: {run.Requests} requests, {run.Errors} errors");
            }
        }

        foreach (var run in Retry)
        {
            if (run.Attempts < run.Requests || run.Failed != run.Requests)
            {
                problems.Add($"retry {run.Budget}: {run.Requests} requests, {run.Failed} failed, {run.Attempts} attempts reached the backend");
            }
        }

        return problems;
    }

    public string Json() => JsonSerializer.Serialize(new { Machine, Settings, ClientProcessId = Environment.ProcessId, Cells, Pending, Balancer, Retry, Targets, Allocations }, s_json);

    public string Markdown()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{Machine.Date}; {Machine.Cpu}, {Machine.Cores} cores; {Machine.Runtime}; nginx {Machine.Nginx}; load average {Machine.LoadAverageStart} → {Machine.LoadAverageEnd}");
        text.AppendLine();
        text.AppendLine("| variant | c | req/s | p50 µs | p90 µs | p99 µs | client CPU ms/1k | proxy CPU ms/1k | client B/req | added p50 µs | added p90 µs | added p99 µs | TLS handshakes /10k |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var cell in Cells)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {cell.Variant} | {cell.Concurrency} | {cell.RequestsPerSecond:N0} | {cell.P50Us:F0} | {cell.P90Us:F0} | {cell.P99Us:F0} | {cell.ClientCpuMsPer1k:F1} | {(cell.ProxyCpuMsPer1k > 0 ? cell.ProxyCpuMsPer1k.ToString("F1", CultureInfo.InvariantCulture) : "–")} | {cell.AllocatedBytesPerRequest:F0} | {Opt(cell.AddedP50Us)} | {Opt(cell.AddedP90Us)} | {Opt(cell.AddedP99Us)} | {(cell.TlsHandshakesPer10k is { } h ? h.ToString("F2", CultureInfo.InvariantCulture) : "–")} |");
        }

        foreach (var pending in Pending)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {pending.Name} | pending: {pending.Reason} | | | | | | | | | | | |");
        }

        // Where the CPU went: with every core busy, a variant's latency follows the CPU of everything a request
        // touches (client, backend, proxies, the kernel's network work), and steal is time the machine did not have.
        text.AppendLine();
        text.AppendLine("| variant | c | client user ms/1k | client kernel ms/1k | backend ms/1k | proxies ms/1k | machine ms/1k | machine over floor ms/1k | cores busy % | steal % | client work items /req | client pool threads | lock waits /1k |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var cell in Cells)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {cell.Variant} | {cell.Concurrency} | {cell.ClientCpuMsPer1k - cell.ClientKernelCpuMsPer1k:F1} | {cell.ClientKernelCpuMsPer1k:F1} | {cell.BackendCpuMsPer1k:F1} | {(cell.ProxyCpuMsPer1k > 0 ? cell.ProxyCpuMsPer1k.ToString("F1", CultureInfo.InvariantCulture) : "–")} | {cell.MachineCpuMsPer1k:F1} | {(cell.AddedMachineCpuMsPer1k is { } m ? m.ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) : "–")} | {cell.MachineBusyPercent:F0} | {cell.StealPercent:F1} | {cell.WorkItemsPerRequest:F2} | {cell.ThreadPoolThreads:F1} | {cell.LockContentionsPer1k:F2} |");
        }

        if (Cells.Exists(c => c.Variant == "mesh"))
        {
            text.AppendLine();
            text.AppendLine("| c | mesh-added / nginx-added, p50 | p90 | p99 | mesh-added / nginx-pair-added, p50 | p99 |");
            text.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: |");
        }

        foreach (var concurrency in settings.Concurrency)
        {
            var mesh = Find("mesh", concurrency);
            var nginx = Find("nginx", concurrency);
            var pair = Find("nginx-pair", concurrency);
            if (mesh is null)
            {
                continue;
            }

            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {concurrency} | {Ratio(mesh.AddedP50Us, nginx?.AddedP50Us)} | {Ratio(mesh.AddedP90Us, nginx?.AddedP90Us)} | {Ratio(mesh.AddedP99Us, nginx?.AddedP99Us)} | {Ratio(mesh.AddedP50Us, pair?.AddedP50Us)} | {Ratio(mesh.AddedP99Us, pair?.AddedP99Us)} |");
        }

        if (Cells.Exists(c => c.Variant is "mesh-over-mtls" or "mesh-mtls"))
        {
            text.AppendLine();
            text.AppendLine("| c | mesh mTLS variant | its added / nginx-mtls-added, p50 | p99 | its added / nginx-pair-mtls-added, p50 | p99 |");
            text.AppendLine("| ---: | --- | ---: | ---: | ---: | ---: |");
            foreach (var concurrency in settings.Concurrency)
            {
                foreach (var name in new[] { "mesh-mtls", "mesh-over-mtls" })
                {
                    var mesh = Find(name, concurrency);
                    var one = Find("nginx-mtls", concurrency);
                    var pair = Find("nginx-pair-mtls", concurrency);
                    if (mesh is not null)
                    {
                        text.AppendLine(CultureInfo.InvariantCulture,
                            $"| {concurrency} | {name} | {Ratio(mesh.AddedP50Us, one?.AddedP50Us)} | {Ratio(mesh.AddedP99Us, one?.AddedP99Us)} | {Ratio(mesh.AddedP50Us, pair?.AddedP50Us)} | {Ratio(mesh.AddedP99Us, pair?.AddedP99Us)} |");
                    }
                }
            }
        }

        if (Cells.Exists(c => c.Variant.StartsWith("grpc-", StringComparison.Ordinal)))
        {
            // The gRPC cell on its own: each variant against grpc-direct at the same concurrency, as ratios. CPU is what
            // the processes a call passes spent (client, backend, nginx); the machine's figure in the table above also
            // carries whatever else a shared machine was running.
            text.AppendLine();
            text.AppendLine("| gRPC variant | c | req/s | p50 µs | p99 µs | client CPU ms/1k | backend ms/1k | nginx ms/1k | together ms/1k | req/s ÷ direct | p50 ÷ direct | p99 ÷ direct | CPU ÷ direct | calls on its backend listener |");
            text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var cell in Cells)
            {
                if (!cell.Variant.StartsWith("grpc-", StringComparison.Ordinal))
                {
                    continue;
                }

                var floor = Find("grpc-direct", cell.Concurrency);
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {cell.Variant} | {cell.Concurrency} | {cell.RequestsPerSecond:N0} | {cell.P50Us:F0} | {cell.P99Us:F0} | {cell.ClientCpuMsPer1k:F1} | {cell.BackendCpuMsPer1k:F1} | {(cell.ProxyCpuMsPer1k > 0 ? cell.ProxyCpuMsPer1k.ToString("F1", CultureInfo.InvariantCulture) : "–")} | {CallCpu(cell):F1} | {Times(cell.RequestsPerSecond, floor?.RequestsPerSecond)} | {Times(cell.P50Us, floor?.P50Us)} | {Times(cell.P99Us, floor?.P99Us)} | {Times(CallCpu(cell), floor is null ? null : CallCpu(floor))} | {(cell.BackendCallsPerEndpoint is { } calls ? string.Join(" / ", calls.Select(n => n.ToString("N0", CultureInfo.InvariantCulture))) : "–")} |");
            }
        }

        if (Balancer.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("| policy | endpoints | c | req/s | p50 ms | p90 ms | p99 ms | share of the last (slow) endpoint |");
            text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var run in Balancer)
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {run.Policy} | {(run.OneSlow ? "one 10× slower" : "all healthy")} | {run.Concurrency} | {run.RequestsPerSecond:N0} | {run.P50Us / 1000:F2} | {run.P90Us / 1000:F2} | {run.P99Us / 1000:F2} | {run.LastEndpointSharePercent:F2} % |");
            }
        }

        if (Retry.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("| retry budget | offered req/s | seconds | requests | attempts | attempts / request | bound (1.2 × + 10/s) |");
            text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var run in Retry)
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {run.Budget} | {run.OfferedPerSecond} | {run.Seconds:F1} | {run.Requests:N0} | {run.Attempts:N0} | {run.AttemptsPerRequest:F3} | {(run.Budget.StartsWith("0.2", StringComparison.Ordinal) ? run.AllowedPerRequest.ToString("F3", CultureInfo.InvariantCulture) : "–")} |");
            }
        }

        if (Allocations.TryGetValue("direct", out var direct) && Allocations.TryGetValue("mesh", out var meshed))
        {
            // The types the mesh adds, largest first: the difference per type between the mesh and direct.
            var names = new List<string>(Allocations.Keys);
            var types = new List<(string Type, double Added)>();
            foreach (var (type, bytes) in meshed)
            {
                types.Add((type, bytes - direct.GetValueOrDefault(type)));
            }

            types.Sort((a, b) => b.Added.CompareTo(a.Added));
            text.AppendLine();
            text.AppendLine("| type (B per request) | " + string.Join(" | ", names) + " | mesh − direct |");
            text.AppendLine("| --- |" + string.Concat(Enumerable.Repeat(" ---: |", names.Count + 1)));
            foreach (var (type, added) in types.Take(25))
            {
                var row = new StringBuilder("| `" + ShortTypeName(type) + "` |");
                foreach (var name in names)
                {
                    row.Append(CultureInfo.InvariantCulture, $" {Allocations[name].GetValueOrDefault(type):F0} |");
                }

                row.Append(CultureInfo.InvariantCulture, $" {added:F0} |");
                text.AppendLine(row.ToString());
            }
        }

        text.AppendLine();
        text.AppendLine("| target | measured | met? |");
        text.AppendLine("| --- | --- | --- |");
        foreach (var target in Targets)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {target.Name} | {target.Measured} | {(target.Met ? "yes" : "**no**")} |");
        }

        return text.ToString();
    }

    /// <summary>
    /// <c>AsyncStateMachineBox`1[Outcome`1[...],Polly.Retry.RetryResilienceStrategy`1+&lt;ExecuteCore&gt;d__28`1[...]]</c>
    /// becomes <c>async box: RetryResilienceStrategy+&lt;ExecuteCore&gt;d__28</c>: no namespaces, no generic arguments.
    /// </summary>
    internal static string ShortTypeName(string type)
    {
        const string Box = "AsyncStateMachineBox`1[";
        var name = type;
        var prefix = string.Empty;
        if (name.StartsWith(Box, StringComparison.Ordinal) && name.EndsWith(']'))
        {
            var inner = name[Box.Length..^1];
            var depth = 0;
            for (var i = 0; i < inner.Length; i++)
            {
                depth += inner[i] == '[' ? 1 : inner[i] == ']' ? -1 : 0;
                if (depth == 0 && inner[i] == ',')
                {
                    name = inner[(i + 1)..];
                    prefix = "async box: ";
                    break;
                }
            }
        }

        var text = new StringBuilder();
        var skip = 0;
        for (var i = 0; i < name.Length; i++)
        {
            if (skip == 0 && name[i] == '`')
            {
                while (i + 1 < name.Length && char.IsDigit(name[i + 1]))
                {
                    i++;
                }

                if (i + 1 < name.Length && name[i + 1] == '[')
                {
                    skip = 1;
                    i++;
                }

                continue;
            }

            if (skip > 0)
            {
                skip += name[i] == '[' ? 1 : name[i] == ']' ? -1 : 0;
                continue;
            }

            text.Append(name[i]);
        }

        // Namespaces: keep what follows the last '.' before the type's own name (a '+' or '<' starts nested parts).
        var plain = text.ToString();
        var end = plain.IndexOfAny(['+', '<']);
        var head = end < 0 ? plain : plain[..end];
        var dot = head.LastIndexOf('.');
        return prefix + (dot < 0 ? plain : plain[(dot + 1)..]);
    }

    private CellResult? Find(string variant, int concurrency) => Cells.Find(c => c.Variant == variant && c.Concurrency == concurrency);

    private static string Us(double value) => value.ToString("F1", CultureInfo.InvariantCulture) + " µs";

    private static string Opt(double? value) => value is { } v ? v.ToString("F0", CultureInfo.InvariantCulture) : "–";

    private static double CallCpu(CellResult cell) => cell.ClientCpuMsPer1k + cell.BackendCpuMsPer1k + cell.ProxyCpuMsPer1k;

    private static string Times(double value, double? floor) =>
        floor is { } f && f > 0 ? (value / f).ToString("F2", CultureInfo.InvariantCulture) + " ×" : "–";

    private static string Ratio(double? part, double? whole) =>
        part is { } p && whole is { } w && w > 0 ? (p / w).ToString("F3", CultureInfo.InvariantCulture) : "–";

    private static string FindProjectDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mesh.LoadBenchmarks.csproj")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
