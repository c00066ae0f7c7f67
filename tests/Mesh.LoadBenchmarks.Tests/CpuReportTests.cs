using System.Text.Json;

namespace Mesh.LoadBenchmarks.Tests;

public sealed class CpuReportTests : IDisposable
{
    private const int LoadGenerator = 4242;
    private readonly string _directory = Directory.CreateTempSubdirectory("mesh-cpu-report-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Each_sample_of_the_load_generator_is_charged_to_its_cell_by_leaf_frame_per_request()
    {
        var results = Results(("direct", 100, 101), ("mesh", 102, 103));
        var perf = Perf(
            // direct: 1 ms of kernel, 2 ms of libc, over 10 requests.
            Sample(LoadGenerator, 100.2, 1_000_000, "ffffffff81000000 tcp_sendmsg ([kernel.kallsyms])", "7f01 __libc_send (/usr/lib/x86_64-linux-gnu/libc.so.6)"),
            Sample(LoadGenerator, 100.5, 2_000_000, "7f02 __libc_recv (/usr/lib/x86_64-linux-gnu/libc.so.6)"),
            // mesh: the same, plus 4 ms in the mesh's call loop (a JIT-compiled method from the perf map).
            Sample(LoadGenerator, 102.2, 1_000_000, "ffffffff81000000 tcp_sendmsg ([kernel.kallsyms])"),
            Sample(LoadGenerator, 102.4, 2_000_000, "7f02 __libc_recv (/usr/lib/x86_64-linux-gnu/libc.so.6)"),
            Sample(LoadGenerator, 102.6, 4_000_000,
                "7f03 instance valuetype [System.Runtime]System.Threading.Tasks.ValueTask [Mesh.Client] Mesh.Client.Http.MeshHandler+<SendMeshAsync>d__9::MoveNext()[OptimizedTier1] (/tmp/perf-4242.map)"),
            // Not counted: another process in a window, and the load generator between windows.
            Sample(4243, 102.5, 50_000_000, "ffffffff81000000 tcp_recvmsg ([kernel.kallsyms])"),
            Sample(LoadGenerator, 101.5, 50_000_000, "ffffffff81000000 tcp_recvmsg ([kernel.kallsyms])"));
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = await CpuReport.RunAsync(["cpu-report", results, perf], output, error);

        exit.ShouldBe(0, error.ToString());
        var report = output.ToString();
        report.ShouldContain("(samples: direct 2, mesh 3)");
        report.ShouldContain("| kernel | 100.00 | 100.00 | 0.00 |");
        report.ShouldContain("| libc and system calls' user side | 200.00 | 200.00 | 0.00 |");
        report.ShouldContain("| Mesh.Client | 0.00 | 400.00 | +400.00 |");
        report.ShouldContain("| **total** | **300.00** | **700.00** | **+400.00** |");
        report.ShouldContain("| [Mesh.Client] Mesh.Client.Http.MeshHandler+<SendMeshAsync>d__9::MoveNext | 0.00 | 400.00 | +400.00 |");
    }

    [Fact]
    public async Task A_profile_without_a_sample_of_the_load_generator_in_a_window_is_an_error()
    {
        var results = Results(("direct", 100, 101));
        var perf = Perf(Sample(LoadGenerator + 1, 100.5, 1_000_000, "ffffffff81000000 tcp_sendmsg ([kernel.kallsyms])"));
        var error = new StringWriter();

        var exit = await CpuReport.RunAsync(["cpu-report", results, perf], new StringWriter(), error);

        exit.ShouldBe(1);
        error.ToString().ShouldContain($"no sample of process {LoadGenerator}");
    }

    [Theory]
    [InlineData("7f00 instance string[] [System.Private.CoreLib] System.String::Split(char)[OptimizedTier1] (/tmp/perf-1.map)",
        "System.Private.CoreLib", "[System.Private.CoreLib] System.String::Split")]
    [InlineData("7f00 bool [System.Net.Http] System.Net.Http.Headers.HttpRuleParser::IsValidHostName(string)[Tier1] (/tmp/perf-1.map)",
        "System.Net.Http", "[System.Net.Http] System.Net.Http.Headers.HttpRuleParser::IsValidHostName")]
    [InlineData("7f00 [unknown] (/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.0/libcoreclr.so)",
        "runtime (libcoreclr: GC, type checks, stubs)", "runtime (libcoreclr: GC, type checks, stubs)")]
    [InlineData("7f00 stub<1> AllocateTemporaryEntryPoints<PRECODE_STUB> (/tmp/perf-1.map)", "runtime stubs", "stub<1> AllocateTemporaryEntryPoints<PRECODE_STUB>")]
    [InlineData("ffffffff81000000 __schedule ([kernel.kallsyms])", "kernel", "[kernel] __schedule")]
    public void A_leaf_frame_is_placed_by_its_module_and_declaring_assembly(string frame, string where, string function)
    {
        CpuReport.Classify(frame).ShouldBe((where, function));
    }

    private string Results(params (string Variant, double Start, double End)[] cells)
    {
        var path = Path.Combine(_directory, "run.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new
        {
            ClientProcessId = LoadGenerator,
            Cells = Array.ConvertAll(cells, c => new
            {
                c.Variant,
                Concurrency = 8,
                Requests = 10L,
                WindowsNs = new[] { new[] { (long)(c.Start * 1e9), (long)(c.End * 1e9) } },
            }),
        }));
        return path;
    }

    private string Perf(params string[] samples)
    {
        var path = Path.Combine(_directory, "perf.txt");
        File.WriteAllText(path, string.Concat(samples));
        return path;
    }

    // perf script -F pid,time,period,ip,sym,dso: the pid right-aligned, then the frames leaf first, a blank line after.
    private static string Sample(int pid, double seconds, long periodNs, params string[] frames) =>
        FormattableString.Invariant($"{pid,7} {seconds:F6}: {periodNs} \n") + string.Concat(Array.ConvertAll(frames, f => "\t" + f + "\n")) + "\n";
}
