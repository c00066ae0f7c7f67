using System.Diagnostics.Tracing;

namespace Mesh.Benchmarks.Shared;

/// <summary>
/// Which types this process allocates while it is on (the load benchmark's <c>--profile</c>, the micro benchmark's
/// <c>--allocs</c>; compiled into both): the runtime's AllocationTick event fires
/// once per ~100 KB allocated and names the type of the object that crossed the line, so over many requests each
/// type's share of the ticks is its share of the bytes. Multiplied by the measured bytes per request, that gives bytes
/// per request by type. In-process, no tools needed.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const int GcKeyword = 0x1;
    private readonly Dictionary<string, long> _ticks = [];
    private volatile bool _enabled;

    public void Start() => _enabled = true;

    public void Stop() => _enabled = false;

    /// <summary>How many AllocationTick samples the numbers rest on.</summary>
    public long Samples
    {
        get
        {
            lock (_ticks)
            {
                long total = 0;
                foreach (var ticks in _ticks.Values)
                {
                    total += ticks;
                }

                return total;
            }
        }
    }

    /// <summary>Bytes per request by type, given the bytes per request measured over the same window.</summary>
    public Dictionary<string, double> BytesPerRequest(double bytesPerRequest)
    {
        lock (_ticks)
        {
            long total = 0;
            foreach (var ticks in _ticks.Values)
            {
                total += ticks;
            }

            var result = new Dictionary<string, double>();
            foreach (var (type, ticks) in _ticks)
            {
                result[type] = total == 0 ? 0 : bytesPerRequest * ticks / total;
            }

            return result;
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
