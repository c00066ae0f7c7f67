using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// <c>cpu-report &lt;results.json&gt; &lt;perf-script.txt&gt; [--top n]</c>: where the load generator's CPU went in each
/// cell, per request, beside the cell's floor. The input is a run recorded under <c>perf record -k mono -g</c>
/// (<c>benchmarks/load-profile-cpu.sh</c>) and printed with <c>perf script -F pid,time,period,ip,sym,dso</c>.
/// A sample belongs to a cell when it is the load generator's (<c>ClientProcessId</c>) and falls in one of the
/// cell's measured windows (<c>WindowsNs</c>); its CPU time is its period. Each sample is charged to its leaf frame:
/// time spent in the kernel, the runtime's native code (GC, stubs) or a managed assembly, and the function.
/// </summary>
internal static class CpuReport
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length < 3)
        {
            await error.WriteLineAsync("usage: cpu-report <results.json> <perf-script.txt> [--top n]");
            return 64;
        }

        var top = 15;
        if (args.Length >= 5 && args[3] == "--top")
        {
            top = int.Parse(args[4], CultureInfo.InvariantCulture);
        }

        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(args[1]));
        var pid = json.RootElement.GetProperty("ClientProcessId").GetInt32();
        var cells = new List<Cell>();
        foreach (var element in json.RootElement.GetProperty("Cells").EnumerateArray())
        {
            var windows = new List<(double, double)>();
            foreach (var window in element.GetProperty("WindowsNs").EnumerateArray())
            {
                windows.Add((window[0].GetInt64() / 1e9, window[1].GetInt64() / 1e9));
            }

            cells.Add(new Cell(element.GetProperty("Variant").GetString()!, element.GetProperty("Concurrency").GetInt32(),
                element.GetProperty("Requests").GetInt64(), windows));
        }

        using (var reader = new StreamReader(args[2]))
        {
            await ReadSamplesAsync(reader, pid, cells);
        }

        if (cells.TrueForAll(c => c.Samples == 0))
        {
            await error.WriteLineAsync($"cpu-report: no sample of process {pid} fell in a measured window; was the run recorded with perf record -k mono?");
            return 1;
        }

        output.Write(Markdown(cells, top));
        return 0;
    }

    /// <summary>
    /// Reads <c>perf script</c> output: a header line per sample (<c>pid time: period</c>, the pid right-aligned, so
    /// perhaps indented with spaces), then its frames, leaf first, each indented with a tab (<c>ip symbol (dso)</c>),
    /// then a blank line. Only the leaf frame is used.
    /// </summary>
    internal static async Task ReadSamplesAsync(TextReader reader, int pid, List<Cell> cells)
    {
        Cell? cell = null;
        long period = 0;
        var expectLeaf = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                expectLeaf = false;
                continue;
            }

            if (line[0] != '\t')
            {
                // pid time: period
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                cell = null;
                expectLeaf = false;
                if (parts.Length >= 3 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var samplePid) && samplePid == pid &&
                    double.TryParse(parts[1].TrimEnd(':'), NumberStyles.Float, CultureInfo.InvariantCulture, out var time) &&
                    long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out period))
                {
                    cell = cells.Find(c => c.Contains(time));
                    expectLeaf = cell is not null;
                }

                continue;
            }

            if (expectLeaf)
            {
                var (where, function) = Classify(line.Trim());
                cell!.Add(where, function, period);
                expectLeaf = false;
            }
        }
    }

    /// <summary>A leaf frame <c>ip symbol (dso)</c> as (where, function).</summary>
    internal static (string Where, string Function) Classify(string frame)
    {
        var space = frame.IndexOf(' ', StringComparison.Ordinal);
        var rest = space < 0 ? frame : frame[(space + 1)..];
        var dsoStart = rest.LastIndexOf(" (", StringComparison.Ordinal);
        var symbol = dsoStart < 0 ? rest : rest[..dsoStart];
        var dso = dsoStart < 0 ? string.Empty : rest[(dsoStart + 2)..].TrimEnd(')');
        if (dso.Contains("kernel", StringComparison.Ordinal))
        {
            return ("kernel", "[kernel] " + symbol);
        }

        // A JIT-compiled method from the runtime's perf map: "instance valuetype [System.Runtime]System.Threading.Tasks.
        // ValueTask [System.Net.Http] System.Net.Http.HttpConnection::WriteToStreamAsync(args)[Tier]". The declaring
        // assembly is the last bracket before the "::" that is followed by a space: a return type's assembly is
        // followed by its type name, and an array return type ("String[] ") comes before the declaring assembly.
        var member = symbol.IndexOf("::", StringComparison.Ordinal);
        var close = member < 0 ? symbol.IndexOf("] ", StringComparison.Ordinal) : symbol.LastIndexOf("] ", member, StringComparison.Ordinal);
        var open = close < 0 ? -1 : symbol.LastIndexOf('[', close);
        if (dso.Contains("perf-", StringComparison.Ordinal) && open >= 0 && !symbol.StartsWith("stub ", StringComparison.Ordinal))
        {
            var assembly = symbol[(open + 1)..close];
            var name = symbol[(close + 2)..];
            var args = name.IndexOf('(', StringComparison.Ordinal);
            return (assembly, "[" + assembly + "] " + (args < 0 ? name : name[..args]));
        }

        var file = Path.GetFileName(dso);
        var where = file switch
        {
            "libcoreclr.so" => "runtime (libcoreclr: GC, type checks, stubs)",
            "libclrjit.so" => "JIT",
            "libc.so.6" or "libSystem.Native.so" or "[vdso]" or "ld-linux-x86-64.so.2" => "libc and system calls' user side",
            _ when dso.Contains("perf-", StringComparison.Ordinal) => "runtime stubs",
            _ => file.Length == 0 ? "unknown" : file,
        };
        return (where, symbol == "[unknown]" ? where : symbol);
    }

    internal static string Markdown(List<Cell> cells, int top)
    {
        var text = new StringBuilder();
        var floors = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variant in Variants.All)
        {
            if (variant.Floor is not null)
            {
                floors[variant.Name] = variant.Floor;
            }
        }

        var concurrencies = new SortedSet<int>();
        foreach (var cell in cells)
        {
            concurrencies.Add(cell.Concurrency);
        }

        foreach (var concurrency in concurrencies)
        {
            var here = cells.FindAll(c => c.Concurrency == concurrency && c.Requests > 0);
            var floor = here.Find(c => !floors.ContainsKey(c.Variant));
            if (floor is null)
            {
                continue;
            }

            var others = here.FindAll(c => floors.TryGetValue(c.Variant, out var f) && f == floor.Variant);
            text.Append(CultureInfo.InvariantCulture, $"### c = {concurrency}: client CPU per request by where it ran, µs (samples: ");
            text.AppendJoin(", ", here.ConvertAll(c => string.Create(CultureInfo.InvariantCulture, $"{c.Variant} {c.Samples}")));
            text.AppendLine(")").AppendLine();
            text.Append("| where | ").Append(floor.Variant);
            foreach (var other in others)
            {
                text.Append(" | ").Append(other.Variant).Append(" | Δ");
            }

            text.AppendLine(" |");
            text.Append("| --- | ---:");
            foreach (var _ in others)
            {
                text.Append(" | ---: | ---:");
            }

            text.AppendLine(" |");
            AppendRows(text, floor, others, c => c.ByWhere, top: int.MaxValue, total: true);
            text.AppendLine();

            foreach (var other in others)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"Functions (leaf frames) where {other.Variant} spends the most more than {floor.Variant}, c = {concurrency}, µs per request:").AppendLine();
                text.AppendLine(CultureInfo.InvariantCulture, $"| function | {floor.Variant} | {other.Variant} | Δ |");
                text.AppendLine("| --- | ---: | ---: | ---: |");
                AppendRows(text, floor, [other], c => c.ByFunction, top, total: false);
                text.AppendLine();
            }
        }

        return text.ToString();
    }

    private static void AppendRows(StringBuilder text, Cell floor, List<Cell> others, Func<Cell, Dictionary<string, long>> table, int top, bool total)
    {
        var keys = new HashSet<string>(table(floor).Keys, StringComparer.Ordinal);
        foreach (var other in others)
        {
            keys.UnionWith(table(other).Keys);
        }

        // Largest increase over the floor first (the first other variant's when there are several).
        var rows = new List<(string Key, double Sort)>();
        foreach (var key in keys)
        {
            var sort = others.Count == 0 ? floor.PerRequestUs(table(floor), key) : others[0].PerRequestUs(table(others[0]), key) - floor.PerRequestUs(table(floor), key);
            rows.Add((key, sort));
        }

        rows.Sort((a, b) => b.Sort.CompareTo(a.Sort));
        var shown = 0;
        foreach (var (key, _) in rows)
        {
            if (shown++ >= top)
            {
                break;
            }

            var baseline = floor.PerRequestUs(table(floor), key);
            text.Append("| ").Append(Escape(key)).Append(CultureInfo.InvariantCulture, $" | {baseline:F2}");
            foreach (var other in others)
            {
                var value = other.PerRequestUs(table(other), key);
                text.Append(CultureInfo.InvariantCulture, $" | {value:F2} | {value - baseline:+0.00;-0.00;0.00}");
            }

            text.AppendLine(" |");
        }

        if (total)
        {
            text.Append(CultureInfo.InvariantCulture, $"| **total** | **{floor.TotalUs:F2}**");
            foreach (var other in others)
            {
                text.Append(CultureInfo.InvariantCulture, $" | **{other.TotalUs:F2}** | **{other.TotalUs - floor.TotalUs:+0.00;-0.00;0.00}**");
            }

            text.AppendLine(" |");
        }
    }

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);

    /// <summary>One cell of the run: its measured windows (seconds on the monotonic clock) and the CPU charged to it.</summary>
    internal sealed class Cell(string variant, int concurrency, long requests, List<(double Start, double End)> windows)
    {
        public string Variant { get; } = variant;

        public int Concurrency { get; } = concurrency;

        public long Requests { get; } = requests;

        public long Samples { get; private set; }

        public Dictionary<string, long> ByWhere { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> ByFunction { get; } = new(StringComparer.Ordinal);

        private long TotalNs { get; set; }

        public double TotalUs => Requests == 0 ? 0 : TotalNs / 1000.0 / Requests;

        public bool Contains(double time) => windows.Exists(w => time >= w.Start && time <= w.End);

        public void Add(string where, string function, long periodNs)
        {
            Samples++;
            TotalNs += periodNs;
            ByWhere[where] = ByWhere.GetValueOrDefault(where) + periodNs;
            ByFunction[function] = ByFunction.GetValueOrDefault(function) + periodNs;
        }

        public double PerRequestUs(Dictionary<string, long> table, string key) =>
            Requests == 0 ? 0 : table.GetValueOrDefault(key) / 1000.0 / Requests;
    }
}
