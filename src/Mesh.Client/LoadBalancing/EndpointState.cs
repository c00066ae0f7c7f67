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
    private int _passedOver;              // picks that took another endpoint while this one was idle, since its last answer
    private int _consecutive5xx;
    private int _consecutiveGateway;
    private long _ejectedUntil;           // timestamp; 0 when not ejected
    private int _ejectionCount;
    private long _lastEjectionEnd;
    private long _addedAt;                // timestamp the endpoint joined a running service; 0 when there from the start

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

    /// <summary>
    /// Finagle's and Linkerd's decay time, 10 s: how fast the estimate of an endpoint that gets no traffic fades, so
    /// that one found slow is tried again in time.
    /// </summary>
    public static double DecayTicks(long timestampFrequency) => timestampFrequency * 10.0;

    // Each answer moves the estimate this far towards its round trip (peaks aside), so about the last 16 answers count
    // whatever the request rate. A weight by elapsed time alone is tiny at a high rate: one slow answer would then
    // outweigh thousands of normal ones for the whole decay time.
    private const double SampleWeight = 1.0 / 16;

    // Each pick that weighs this idle endpoint against another and takes the other fades its estimate by this much. An
    // idle endpoint learns nothing, since only answers correct an estimate; fading per pick passed over rather than
    // only per second retries it after a number of requests, not after a time that is an age at a high request rate.
    private const double PassedOverFade = 1.0 / 32;

    // (1 - PassedOverFade)^1024 is below 1e-14: counting further changes nothing and only writes.
    private const int MaxPassedOver = 1024;

    public void OnAttemptStarted() => Interlocked.Increment(ref _inFlight);

    /// <summary>
    /// A pick weighed this endpoint against another and took the other. Counted only while nothing is in flight here:
    /// then no answer is on its way to correct the estimate.
    /// </summary>
    public void OnPassedOver()
    {
        var passed = Volatile.Read(ref _passedOver);
        if (passed < MaxPassedOver && Volatile.Read(ref _inFlight) == 0)
        {
            // A lost increment under a race only delays the retry by a pick.
            Volatile.Write(ref _passedOver, passed + 1);
        }
    }

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
        var passedOver = Volatile.Read(ref _passedOver);
        if (passedOver != 0)
        {
            // Not an exchange: a pass counted in between is lost, which only delays a retry by a pick.
            Volatile.Write(ref _passedOver, 0);
        }

        var current = BitConverter.Int64BitsToDouble(Volatile.Read(ref _ewmaTicksBits));

        // The fading the cost showed while the endpoint was idle is kept: the answer corrects the faded estimate.
        current = Faded(current, startTimestamp - last, decayTicks, passedOver);
        double next;
        if (current == 0 || rtt > current)
        {
            // Peak sensitivity: a slower response takes over at once, so a degrading endpoint loses traffic quickly.
            next = rtt;
        }
        else
        {
            next = (current * (1 - SampleWeight)) + (rtt * SampleWeight);
        }

        // Racing writers may lose an update; the average is an estimate and a lost sample does not matter.
        Volatile.Write(ref _ewmaTicksBits, BitConverter.DoubleToInt64Bits(next));
    }

    /// <summary>
    /// Peak-EWMA cost: the latency estimate times requests in flight plus one. While nothing is in flight the estimate
    /// fades towards zero with time and with picks that passed the endpoint over, so that an endpoint that lost its
    /// traffic to one slow answer is tried again soon.
    /// </summary>
    public double Cost(long now, double decayTicks, double unknownLatencyTicks)
    {
        var inFlight = Volatile.Read(ref _inFlight);
        var ewma = BitConverter.Int64BitsToDouble(Volatile.Read(ref _ewmaTicksBits));
        if (ewma == 0)
        {
            // No answer yet. Idle, the endpoint costs nothing and is tried at once: however fast its peers answer, it
            // never stays untried (calls one at a time would otherwise never reach it). With requests in flight it
            // assumes a moderate latency per request, so it is not flooded before its first answer.
            return inFlight == 0 ? 0 : unknownLatencyTicks * (inFlight + 1);
        }

        if (inFlight == 0)
        {
            ewma = Faded(ewma, now - Volatile.Read(ref _lastRttTimestamp), decayTicks, Volatile.Read(ref _passedOver));
        }

        return ewma * (inFlight + 1);
    }

    private static double Faded(double estimate, long idleTicks, double decayTicks, int passedOver)
    {
        if (idleTicks > 0)
        {
            // Below a thousandth of the decay time (10 ms) 1 - x is exp(-x) to within 5e-7, and costs no exponential:
            // the common case under load, where it runs three times per call (micro benchmark, --breakdown).
            var x = idleTicks / decayTicks;
            estimate *= x < 1e-3 ? 1 - x : Math.Exp(-x);
        }

        return passedOver == 0 ? estimate : estimate * PassedOverFactors[passedOver];
    }

    // (1 - PassedOverFade)^n for every count kept: two costs are computed per pick, and Math.Pow there was a
    // measurable share of the default route's cost in the micro benchmark (--breakdown --quick).
    private static readonly double[] PassedOverFactors = FadeFactors();

    private static double[] FadeFactors()
    {
        var factors = new double[MaxPassedOver + 1];
        factors[0] = 1;
        for (var n = 1; n < factors.Length; n++)
        {
            factors[n] = factors[n - 1] * (1 - PassedOverFade);
        }

        return factors;
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

    /// <summary>The endpoint joined the service at <paramref name="at"/>, after the client had started using it.</summary>
    internal void MarkAdded(long at) => Volatile.Write(ref _addedAt, at);

    /// <summary>
    /// When the endpoint's latest slow start began as of <paramref name="now"/>: the later of when it joined and when
    /// its last ejection ended; 0 when neither happened. An ejection still running does not count: the endpoint is out.
    /// </summary>
    internal long SlowStartSince(long now)
    {
        var added = Volatile.Read(ref _addedAt);
        var ejectionEnd = Volatile.Read(ref _lastEjectionEnd);
        return ejectionEnd != 0 && ejectionEnd <= now ? Math.Max(added, ejectionEnd) : added;
    }
}
