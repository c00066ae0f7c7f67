using Mesh.Client.LoadBalancing;
using Mesh.Testing;

namespace Mesh.Client.Tests.LoadBalancing;

/// <summary>
/// Open-loop traffic through a real picker on a manual clock: a request arrives every <see cref="Interval"/>, goes to
/// the endpoint picked, and completes after a latency drawn for that endpoint. Completions are fed back at their own
/// timestamps, in order, before the next pick, so requests overlap exactly as their latencies say.
/// </summary>
internal sealed class LoadSimulation(EndpointPicker picker, ManualTimeProvider time, Func<EndpointState, double> latencyMs)
{
    private readonly List<(long End, long Start, EndpointState Endpoint)> _pending = [];
    private readonly HttpRequestMessage _request = new(HttpMethod.Get, "http://svc/");

    /// <summary>The picker in use; a test may swap it for one over a changed set of endpoints.</summary>
    public EndpointPicker Picker { get; set; } = picker;

    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Runs <paramref name="duration"/> of traffic and returns, per <paramref name="window"/>, how many requests each
    /// endpoint got.
    /// </summary>
    public List<Dictionary<EndpointState, int>> Run(TimeSpan duration, TimeSpan window)
    {
        var perWindow = (int)(window / Interval);
        var requests = (int)(duration / Interval);
        var windows = new List<Dictionary<EndpointState, int>>();
        Dictionary<EndpointState, int>? counts = null;
        for (var i = 0; i < requests; i++)
        {
            if (i % perWindow == 0)
            {
                counts = [];
                windows.Add(counts);
            }

            var arrival = time.GetTimestamp();
            Complete(arrival);
            var endpoint = Picker.Pick(_request, null).Endpoint!;
            counts![endpoint] = counts.GetValueOrDefault(endpoint) + 1;
            endpoint.OnAttemptStarted();
            var latency = (long)(latencyMs(endpoint) * time.TimestampFrequency / 1000.0);
            _pending.Add((arrival + Math.Max(1, latency), arrival, endpoint));
            time.Advance(Interval);
        }

        return windows;
    }

    /// <summary>Completes every request still in flight, as if the clock had run until the last one ended.</summary>
    public void Drain() => Complete(long.MaxValue);

    private void Complete(long until)
    {
        _pending.Sort(static (x, y) => x.End.CompareTo(y.End));
        var done = 0;
        foreach (var (end, start, endpoint) in _pending)
        {
            if (end > until)
            {
                break;
            }

            endpoint.OnAttemptCompleted(start, end, time.TimestampFrequency);
            done++;
        }

        _pending.RemoveRange(0, done);
    }
}
