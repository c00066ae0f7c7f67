using System.Diagnostics.Tracing;
using System.Globalization;

namespace Mesh.Benchmarks;

/// <summary>
/// Which types a workload allocates (<c>-- --allocs</c>): the runtime's AllocationTick event fires once per ~100 KB
/// allocated and names the type of the object that crossed the line, so over many requests the tick counts are
/// proportional to the bytes each type takes. Bytes per request come from <see cref="GC.GetAllocatedBytesForCurrentThread"/>.
/// </summary>
internal sealed class AllocationProfile : EventListener
{
    private const int GcKeyword = 0x1;
    private readonly Dictionary<string, long> _ticks = [];
    private bool _enabled;

    public static void Run(string name, Action workload, int iterations = 2_000_000)
    {
        for (var i = 0; i < 50_000; i++)
        {
            workload();
        }

        using var listener = new AllocationProfile();
        var before = GC.GetAllocatedBytesForCurrentThread();
        listener._enabled = true;
        for (var i = 0; i < iterations; i++)
        {
            workload();
        }

        listener._enabled = false;
        var perRequest = (double)(GC.GetAllocatedBytesForCurrentThread() - before) / iterations;
        long total;
        List<KeyValuePair<string, long>> rows;
        lock (listener._ticks)
        {
            total = listener._ticks.Values.Sum();
            rows = [.. listener._ticks.OrderByDescending(kv => kv.Value)];
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Allocations: {name}, {perRequest:F0} B per request ({total} samples)"));
        foreach (var (type, ticks) in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {ticks * perRequest / Math.Max(1, total),7:F0} B  {type}"));
        }
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_enabled || eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) != true || eventData.Payload is null)
        {
            return;
        }

        var index = eventData.PayloadNames?.IndexOf("TypeName") ?? -1;
        var type = index >= 0 ? eventData.Payload[index] as string ?? "?" : "?";
        lock (_ticks)
        {
            _ticks[type] = _ticks.GetValueOrDefault(type) + 1;
        }
    }
}
