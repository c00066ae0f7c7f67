namespace Mesh.Client.Resilience;

/// <summary>
/// Caps retries to a destination service over the last <c>Ttl</c> at <c>RetryRatio</c> of its requests plus a reserve
/// of <c>MinRetriesPerSecond × Ttl</c> (Finagle's, Linkerd's and tower's retry budget). The reserve is there from the
/// first request, so a new client's cold burst retries as those budgets would. Under a full outage the extra load is
/// bounded, so retries cannot turn a failure into an overload.
/// Counters live in one bucket per second; the hot path only does interlocked increments.
/// </summary>
internal sealed class RetryBudget
{
    private readonly Bucket[] _buckets;
    private readonly double _ratio;
    private readonly int _minPerSecond;
    private readonly TimeProvider _timeProvider;
    private readonly Lock _rollover = new();

    public RetryBudget(RetryBudgetOptions options, TimeProvider timeProvider)
    {
        _ratio = options.RetryRatio;
        _minPerSecond = options.MinRetriesPerSecond;
        _timeProvider = timeProvider;
        _buckets = new Bucket[Math.Max(1, (int)Math.Ceiling(options.Ttl.TotalSeconds))];
        for (var i = 0; i < _buckets.Length; i++)
        {
            _buckets[i] = new Bucket { Second = long.MinValue };
        }

    }

    /// <summary>Counts one logical request; each one earns <c>RetryRatio</c> retries.</summary>
    public void RecordRequest() => RecordRequest(_timeProvider.GetTimestamp());

    /// <summary>Counts one logical request made at <paramref name="timestamp"/>, a timestamp the caller has already read.</summary>
    public void RecordRequest(long timestamp) => Interlocked.Increment(ref Current(timestamp / _timeProvider.TimestampFrequency).Requests);

    /// <summary>Takes one retry from the budget, or says there is none left.</summary>
    public bool TryWithdraw()
    {
        var second = CurrentSecond();
        var bucket = Current(second);

        // Reserve first, then check: under contention this can refuse a retry it could have allowed, never the reverse.
        Interlocked.Increment(ref bucket.Retries);
        long requests = 0, retries = 0;
        foreach (var b in _buckets)
        {
            if (Volatile.Read(ref b.Second) > second - _buckets.Length)
            {
                requests += Volatile.Read(ref b.Requests);
                retries += Volatile.Read(ref b.Retries);
            }
        }

        var allowed = (_ratio * requests) + ((double)_minPerSecond * _buckets.Length);
        if (retries <= allowed)
        {
            return true;
        }

        Interlocked.Decrement(ref bucket.Retries);
        return false;
    }

    private long CurrentSecond() => _timeProvider.GetTimestamp() / _timeProvider.TimestampFrequency;

    private Bucket Current(long second)
    {
        var bucket = _buckets[(int)(second % _buckets.Length)];
        if (Volatile.Read(ref bucket.Second) != second)
        {
            // Once a second per bucket: not worth a lock-free dance.
            lock (_rollover)
            {
                if (bucket.Second != second)
                {
                    bucket.Requests = 0;
                    bucket.Retries = 0;
                    Volatile.Write(ref bucket.Second, second);
                }
            }
        }

        return bucket;
    }

    private sealed class Bucket
    {
        public long Second;
        public int Requests;
        public int Retries;
    }
}
