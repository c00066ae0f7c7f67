using Mesh.Benchmarks.Shared;
using System.Globalization;

namespace Mesh.Benchmarks;

/// <summary>
/// Which types a workload allocates (<c>-- --allocs</c>), from the shared <see cref="AllocationSampler"/>; bytes per
/// request come from <see cref="GC.GetAllocatedBytesForCurrentThread"/>.
/// </summary>
internal static class AllocationProfile
{
    public static void Run(string name, Action workload, int iterations = 2_000_000)
    {
        for (var i = 0; i < 50_000; i++)
        {
            workload();
        }

        using var sampler = new AllocationSampler();
        var before = GC.GetAllocatedBytesForCurrentThread();
        sampler.Start();
        for (var i = 0; i < iterations; i++)
        {
            workload();
        }

        sampler.Stop();
        var perRequest = (double)(GC.GetAllocatedBytesForCurrentThread() - before) / iterations;
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Allocations: {name}, {perRequest:F0} B per request ({sampler.Samples} samples)"));
        foreach (var (type, bytes) in sampler.BytesPerRequest(perRequest).OrderByDescending(kv => kv.Value))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {bytes,7:F0} B  {type}"));
        }
    }
}
