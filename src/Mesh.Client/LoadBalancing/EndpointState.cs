using System.Collections.Concurrent;
using Mesh.Client.Resilience;

namespace Mesh.Client.LoadBalancing;

/// <summary>
/// One endpoint of a service and what the mesh has learnt about it: requests in flight, a latency average, and its
/// outlier-detection record. It outlives models: a reload that keeps the endpoint keeps what was learnt.
/// All fields are updated with interlocked operations; readers tolerate a slightly stale view.
/// </summary>
internal sealed class EndpointState
{
    private int _inFlight;
    private long _ewmaTicksBits;          // double: latency EWMA in timestamp ticks; 0 until the first response
    private long _lastRttTimestamp;
    private int _consecutive5xx;
    private int _consecutiveGateway;
    private long _ejectedUntil;           // timestamp; 0 when not ejected
    private int _ejectionCount;
    private long _lastEjectionEnd;

    public EndpointState(Uri address, IReadOnlyDictionary<string, string> labels, string? zone)
    {
        Address = address;
        Authority = address.GetLeftPart(UriPartial.Authority);
        Labels = labels;
        Zone = zone;
        Version = labels.TryGetValue("version", out var v) ? v : "unknown";
        PortTag = address.Port;
    }

    public Uri Address { get; }

    /// <summary>scheme://host:port, the key of the endpoint within its service.</summary>
    public string Authority { get; }

    public IReadOnlyDictionary<string, string> Labels { get; }

    public string? Zone { get; }

    /// <summary>The endpoint's <c>version</c> label, reported as <c>destination_version</c>.</summary>
    public string Version { get; }

    /// <summary>The port, boxed once for the <c>server.port</c> span tag rather than on every attempt.</summary>
    public object PortTag { get; }

    /// <summary>Slots of <see cref="RewrittenUris"/>; a power of two.</summary>
    internal const int RewriteCacheSlots = 16;

    private static readonly Func<string, (CircuitBreakerModel Options, TimeProvider Time), EndpointBreaker> CreateBreaker =
        static (_, arg) => new EndpointBreaker(arg.Options, arg.Time);

    /// <summary>URIs recently rewritten onto this endpoint, by path and query; see <c>EndpointUri</c>.</summary>
    internal Uri?[] RewrittenUris { get; } = new Uri?[RewriteCacheSlots];

    /// <summary>Per slot of <see cref="RewrittenUris"/>, the hash of the last path that missed it.</summary>
    internal int[] RewriteMisses { get; } = new int[RewriteCacheSlots];

    /// <summary>Circuit breakers of this endpoint, one per HTTP client, created on first use.</summary>
    public ConcurrentDictionary<string, EndpointBreaker> Breakers { get; } = new(StringComparer.Ordinal);

    /// <summary>The circuit breaker of this endpoint for the HTTP client <paramref name="client"/>.</summary>
    public EndpointBreaker BreakerFor(string client, CircuitBreakerModel options, TimeProvider timeProvider) =>
        Breakers.GetOrAdd(client, CreateBreaker, (options, timeProvider));

    public int InFlight => Volatile.Read(ref _inFlight);

    public long EjectedUntil => Volatile.Read(ref _ejectedUntil);

    public int EjectionCount => Volatile.Read(ref _ejectionCount);

    public bool IsEjected(long now)
    {
        var until = Volatile.Read(ref _ejectedUntil);
        return until != 0 && now < until;
    }

    /// <summary>Finagle's and Linkerd's decay time, 10 s: how long a latency sample keeps its weight.</summary>
    public static double DecayTicks(long timestampFrequency) => timestampFrequency * 10.0;

    public void OnAttemptStarted() => Interlocked.Increment(ref _inFlight);

    /// <summary>
    /// Records a finished attempt's round trip into the latency average. <paramref name="timestampFrequency"/> is
    /// that of the clock the timestamps come from.
    /// </summary>
    public void OnAttemptCompleted(long startTimestamp, long endTimestamp, long timestampFrequency) =>
        OnAttemptCompleted(startTimestamp, endTimestamp, DecayTicks(timestampFrequency), minimumRttTicks: 0);

    /// <summary>
    /// Records an attempt that failed before a response (refused, reset, timed out). A refused connection is the
    /// fastest answer there is; counted as is, it would make a dead endpoint the cheapest one, so a failure counts
    /// as a round trip of at least one second.
    /// </summary>
    public void OnAttemptFailed(long startTimestamp, long endTimestamp, long timestampFrequency) =>
        OnAttemptCompleted(startTimestamp, endTimestamp, DecayTicks(timestampFrequency), minimumRttTicks: timestampFrequency);

    private void OnAttemptCompleted(long startTimestamp, long endTimestamp, double decayTicks, double minimumRttTicks)
    {
        Interlocked.Decrement(ref _inFlight);
        var rtt = Math.Max(minimumRttTicks, Math.Max(0, endTimestamp - startTimestamp));
        var last = Interlocked.Exchange(ref _lastRttTimestamp, endTimestamp);
        var current = BitConverter.Int64BitsToDouble(Volatile.Read(ref _ewmaTicksBits));
        double next;
        if (current == 0 || rtt > current)
        {
            // Peak sensitivity: a slower response takes over at once, so a degrading endpoint loses traffic quickly;
            // recovery is gradual through the decay below.
            next = rtt;
        }
        else
        {
            var elapsed = Math.Max(0, endTimestamp - last);
            var w = Math.Exp(-elapsed / decayTicks);
            next = (current * w) + (rtt * (1 - w));
        }

        // Racing writers may lose an update; the average is an estimate and a lost sample does not matter.
        Volatile.Write(ref _ewmaTicksBits, BitConverter.DoubleToInt64Bits(next));
    }

    /// <summary>
    /// Peak-EWMA cost: the latency estimate, decayed towards zero while the endpoint gets no traffic (so an endpoint
    /// that was slow is probed again in time), times requests in flight plus one.
    /// </summary>
    public double Cost(long now, double decayTicks, double unknownLatencyTicks)
    {
        var inFlight = Volatile.Read(ref _inFlight);
        var ewma = BitConverter.Int64BitsToDouble(Volatile.Read(ref _ewmaTicksBits));
        if (ewma == 0)
        {
            // No response seen yet: assume a moderate latency, so a new endpoint gets traffic but is not flooded.
            return unknownLatencyTicks * (inFlight + 1);
        }

        var idle = now - Volatile.Read(ref _lastRttTimestamp);
        if (idle > 0)
        {
            ewma *= Math.Exp(-idle / decayTicks);
        }

        return ewma * (inFlight + 1);
    }

    public double LatencyEstimateTicks => BitConverter.Int64BitsToDouble(Volatile.Read(ref _ewmaTicksBits));

    // Outlier detection bookkeeping; the decisions live in OutlierDetector.
    internal int IncrementConsecutive5xx() => Interlocked.Increment(ref _consecutive5xx);

    internal int IncrementConsecutiveGateway() => Interlocked.Increment(ref _consecutiveGateway);

    internal void ResetConsecutiveGateway()
    {
        if (Volatile.Read(ref _consecutiveGateway) != 0)
        {
            Volatile.Write(ref _consecutiveGateway, 0);
        }
    }

    internal void ResetConsecutiveErrors()
    {
        // Read first: the common case is a healthy endpoint, and an unconditional write would bounce the cache line.
        if (Volatile.Read(ref _consecutive5xx) != 0)
        {
            Volatile.Write(ref _consecutive5xx, 0);
        }

        ResetConsecutiveGateway();
    }

    internal bool TryEject(long now, long until, long expected)
    {
        if (Interlocked.CompareExchange(ref _ejectedUntil, until, expected) != expected)
        {
            return false;
        }

        Volatile.Write(ref _consecutive5xx, 0);
        Volatile.Write(ref _consecutiveGateway, 0);
        return true;
    }

    internal int NextEjectionMultiplier(long now, long intervalTicks)
    {
        // Istio/Envoy: the ejection time grows with each ejection, and the multiplier decays by one for every
        // interval the endpoint stayed healthy since it last came back.
        var count = Volatile.Read(ref _ejectionCount);
        var lastEnd = Volatile.Read(ref _lastEjectionEnd);
        if (count > 0 && lastEnd > 0 && intervalTicks > 0)
        {
            var healthyIntervals = (now - lastEnd) / intervalTicks;
            count = (int)Math.Max(0, count - healthyIntervals);
        }

        count++;
        Volatile.Write(ref _ejectionCount, count);
        return count;
    }

    internal void MarkEjectionEnd(long until) => Volatile.Write(ref _lastEjectionEnd, until);
}
