using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace Mesh.Benchmarks;

/// <summary>
/// A sampling CPU profile of one workload in this process, without dotnet-trace (<c>-- --profile</c>): an EventPipe
/// session with the sample profiler, read back with TraceEvent, folded into inclusive and exclusive sample counts per
/// method on the thread that ran the workload. BenchmarkDotNet's own EventPipe profiler does not know .NET 10 yet.
/// </summary>
internal static class CpuProfile
{
    public static void Run(string name, Action workload, TimeSpan duration, int top = 45)
    {
        // Warm up so that the profile shows steady state, not the JIT.
        for (var i = 0; i < 50_000; i++)
        {
            workload();
        }

        var path = Path.Combine(Path.GetTempPath(), $"mesh-profile-{Environment.ProcessId}.nettrace");
        var client = new DiagnosticsClient(Environment.ProcessId);
        var providers = new[]
        {
            new EventPipeProvider("Microsoft-DotNETCore-SampleProfiler", EventLevel.Informational),
            new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, (long)ClrTraceEventParser.Keywords.Default),
        };

        var threadId = 0;
        using (var session = client.StartEventPipeSession(providers, requestRundown: true))
        {
            var copy = Task.Run(() =>
            {
                using var file = File.Create(path);
                session.EventStream.CopyTo(file);
            });

            var thread = new Thread(() =>
            {
                // Linux: /proc/thread-self links to <pid>/task/<tid>, the id the samples carry.
                var target = new DirectoryInfo("/proc/thread-self").LinkTarget;
                threadId = target is null ? 0 : int.Parse(target[(target.LastIndexOf('/') + 1)..], CultureInfo.InvariantCulture);
                var until = DateTime.UtcNow + duration;
                while (DateTime.UtcNow < until)
                {
                    for (var i = 0; i < 1000; i++)
                    {
                        workload();
                    }
                }
            });
            thread.Start();
            thread.Join();
            session.Stop();
            copy.Wait();
        }

        var etlx = TraceLog.CreateFromEventPipeDataFile(path);
        using var log = new TraceLog(etlx);
        var inclusive = new Dictionary<string, int>();
        var exclusive = new Dictionary<string, int>();
        var total = 0;
        var seen = new HashSet<string>();
        foreach (var e in log.Events)
        {
            if (e.ProviderName != "Microsoft-DotNETCore-SampleProfiler" || (threadId != 0 && e.ThreadID != threadId))
            {
                continue;
            }

            var stack = e.CallStack();
            if (stack is null)
            {
                continue;
            }

            total++;
            seen.Clear();
            var leaf = true;
            for (var frame = stack; frame is not null; frame = frame.Caller)
            {
                var method = frame.CodeAddress.FullMethodName;
                if (string.IsNullOrEmpty(method))
                {
                    method = frame.CodeAddress.ModuleName is { Length: > 0 } module ? $"[{module}]" : "[native]";
                }

                if (leaf)
                {
                    exclusive[method] = exclusive.GetValueOrDefault(method) + 1;
                    leaf = false;
                }

                if (seen.Add(method))
                {
                    inclusive[method] = inclusive.GetValueOrDefault(method) + 1;
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"CPU profile: {name}, {total} samples on the workload thread"));
        Print("inclusive", inclusive, total, top);
        Print("exclusive", exclusive, total, top);
        File.Delete(path);
        File.Delete(etlx);
    }

    private static void Print(string title, Dictionary<string, int> counts, int total, int top)
    {
        Console.WriteLine($"  -- {title} --");
        foreach (var (method, count) in counts.OrderByDescending(kv => kv.Value).Take(top))
        {
            var shown = method.Length > 150 ? method[..150] : method;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {100.0 * count / Math.Max(1, total),6:F1}%  {shown}"));
        }
    }
}
