namespace Mesh.Client.Resilience;

/// <summary>
/// The circuit breaker of one endpoint as seen by one HTTP client. Closed, it counts attempts and failures over a
/// sliding window (<see cref="CircuitBreakerModel.SamplingDuration"/> in ten buckets); when at least
/// <see cref="CircuitBreakerModel.MinimumThroughput"/> attempts are in the window and the failure share reaches
/// <see cref="CircuitBreakerModel.FailureRatio"/>, it opens. Open, it refuses attempts for
/// <see cref="CircuitBreakerModel.BreakDuration"/>, then lets one attempt through as a probe (half-open): a success
/// closes it with a fresh window, a failure opens it again. A probe that never reports lets another through after
/// one more break duration.
/// </summary>
/// <remarks>
/// Every attempt of the client goes through here, so nothing locks: counts are interlocked increments on the current
/// bucket, and state changes are compare-and-swap. A bucket is replaced when its time slot comes round again; an
/// increment racing that replacement can land in the old bucket and be lost, which a failure ratio over thousands
/// of attempts does not notice.
/// </remarks>
internal sealed class EndpointBreaker
{
    private const int BucketCount = 10;
    private const int Closed = 0;
    private const int Open = 1;
    private const int HalfOpen = 2;

    private readonly TimeProvider _time;
    private readonly double _failureRatio;
    private readonly int _minimumThroughput;
    private readonly long _bucketTicks;
    private readonly long _breakTicks;
    private readonly Bucket?[] _buckets = new Bucket?[BucketCount];
    private int _state;
    private long _blockedUntil;

    public EndpointBreaker(CircuitBreakerModel options, TimeProvider timeProvider)
    {
        _time = timeProvider;
        _failureRatio = options.FailureRatio;
        _minimumThroughput = Math.Max(1, options.MinimumThroughput);
        _bucketTicks = Math.Max(1, (long)(options.SamplingDuration.TotalSeconds * timeProvider.TimestampFrequency / BucketCount));
        _breakTicks = (long)(options.BreakDuration.TotalSeconds * timeProvider.TimestampFrequency);
    }

    /// <summary>True while the breaker would refuse an attempt: open, or half-open with its probe in flight.</summary>
    public bool IsOpen => Volatile.Read(ref _state) != Closed && _time.GetTimestamp() < Volatile.Read(ref _blockedUntil);

    /// <summary>The state for telemetry and tests: closed, open or half-open.</summary>
    internal string State => Volatile.Read(ref _state) switch
    {
        Closed => "closed",
        Open => "open",
        _ => "half-open",
    };

    /// <summary>
    /// True from the moment the circuit opens until a probe closes it, whether or not the break is over: what the
    /// <c>mesh.circuit_breaker.open</c> gauge reports. A half-open breaker (a probe in flight) is not open.
    /// </summary>
    public bool IsOpenState => Volatile.Read(ref _state) == Open;

    /// <summary>
    /// Whether an attempt may go to the endpoint now. Closed: always. Open or half-open: not until the break has
    /// passed, and then only the one caller that wins the right to probe (<paramref name="probe"/>).
    /// </summary>
    public bool TryAcquire(out bool probe)
    {
        probe = false;
        if (Volatile.Read(ref _state) == Closed)
        {
            return true;
        }

        var now = _time.GetTimestamp();
        var blockedUntil = Volatile.Read(ref _blockedUntil);
        if (now < blockedUntil)
        {
            return false;
        }

        // The break is over: the caller that moves the block forward is the probe; everyone else keeps waiting.
        if (Interlocked.CompareExchange(ref _blockedUntil, now + _breakTicks, blockedUntil) != blockedUntil)
        {
            return false;
        }

        Volatile.Write(ref _state, HalfOpen);
        probe = true;
        return true;
    }

    /// <summary>
    /// A probe that will never report (its caller gave up, which says nothing about the endpoint): the next attempt
    /// may probe at once instead of waiting out another break.
    /// </summary>
    public void ReleaseProbe()
    {
        if (Volatile.Read(ref _state) == HalfOpen)
        {
            Volatile.Write(ref _blockedUntil, _time.GetTimestamp());
        }
    }

    /// <summary>Counts an attempt that reached the endpoint (or failed trying): a failure or a success.</summary>
    public void Record(bool failure, long now)
    {
        switch (Volatile.Read(ref _state))
        {
            case Closed:
                var bucket = CurrentBucket(now);
                if (!failure)
                {
                    Interlocked.Increment(ref bucket.Successes);
                    return;
                }

                Interlocked.Increment(ref bucket.Failures);
                if (ShouldOpen(now))
                {
                    Trip(Closed, now);
                }

                return;
            case HalfOpen:
                if (failure)
                {
                    Trip(HalfOpen, now);
                }
                else if (Interlocked.CompareExchange(ref _state, Closed, HalfOpen) == HalfOpen)
                {
                    // A fresh window: the failures that opened the circuit are history.
                    Array.Clear(_buckets);
                }

                return;
            default:
                // Open: outcomes of attempts that started before the circuit opened change nothing.
                return;
        }
    }

    private void Trip(int from, long now)
    {
        // The block is written before the state so that nobody sees the new state with an old, passed block.
        Volatile.Write(ref _blockedUntil, now + _breakTicks);
        Interlocked.CompareExchange(ref _state, Open, from);
    }

    private bool ShouldOpen(long now)
    {
        var oldest = now / _bucketTicks - (BucketCount - 1);
        long successes = 0;
        long failures = 0;
        foreach (var b in _buckets)
        {
            if (b is not null && b.Index >= oldest)
            {
                successes += Volatile.Read(ref b.Successes);
                failures += Volatile.Read(ref b.Failures);
            }
        }

        var total = successes + failures;
        return total >= _minimumThroughput && failures >= _failureRatio * total;
    }

    private Bucket CurrentBucket(long now)
    {
        var index = now / _bucketTicks;
        var slot = (int)(index % BucketCount);
        while (true)
        {
            var bucket = Volatile.Read(ref _buckets[slot]);
            if (bucket is not null && bucket.Index == index)
            {
                return bucket;
            }

            if (bucket is not null && bucket.Index > index)
            {
                // A caller with a newer clock reading already moved the slot on; count into it rather than undo that.
                return bucket;
            }

            var fresh = new Bucket(index);
            if (Interlocked.CompareExchange(ref _buckets[slot], fresh, bucket) == bucket)
            {
                return fresh;
            }
        }
    }

    private sealed class Bucket(long index)
    {
        public readonly long Index = index;
        public int Successes;
        public int Failures;
    }
}
