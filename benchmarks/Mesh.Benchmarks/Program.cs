using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace Mesh.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project benchmarks/Mesh.Benchmarks -- --filter '*'</c> runs every benchmark;
/// <c>-- --smoke</c> runs each once (BenchmarkDotNet's Dry job), to prove in CI that they still run;
/// <c>-- --breakdown</c> prints a quick per-stage time and allocation breakdown of the mesh pipeline;
/// <c>-- --profile</c> prints a sampling CPU profile of it; <c>-- --allocs</c> what it allocates, by type.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Contains("--breakdown"))
        {
            Breakdown.Run(args.Contains("--long"), args.Contains("--quick"));
            return 0;
        }

        if (args.Contains("--allocs"))
        {
            Breakdown.Allocations();
            return 0;
        }

        if (args.Contains("--profile"))
        {
            Breakdown.Profile();
            return 0;
        }

        // Min and median next to the mean: on a shared machine the mean carries other people's work, the minimum
        // is the pipeline's own cost.
        IConfig config = DefaultConfig.Instance.AddColumn(StatisticColumn.Min, StatisticColumn.Median);
        if (args.Contains("--smoke"))
        {
            args = [.. args.Where(a => a != "--smoke")];
            if (!args.Contains("--filter"))
            {
                args = [.. args, "--filter", "*"];
            }

            config = config.AddJob(Job.Dry.WithId("Smoke"));
        }

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);

        // Fail the process (and CI) when a benchmark did not run or threw.
        var failed = summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success));
        return failed ? 1 : 0;
    }
}
