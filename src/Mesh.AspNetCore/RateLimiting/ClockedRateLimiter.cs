using System.Threading.RateLimiting;

namespace Mesh.AspNetCore.RateLimiting;

/// <summary>
/// A token bucket that reads time from a <see cref="TimeProvider"/>: it starts full with <c>limit</c> tokens, and at
/// each multiple of <c>period</c> after its creation <c>perPeriod</c> tokens return, up to <c>limit</c>. A fixed window
/// is the bucket whose every period returns all its tokens: <c>PermitLimit</c> requests per <c>Window</c>, the windows
/// following each other from the limiter's creation.
/// </summary>
/// <remarks>
/// Why not System.Threading.RateLimiting's <see cref="TokenBucketRateLimiter"/> and
/// <see cref="FixedWindowRateLimiter"/>: they take no <see cref="TimeProvider"/>. Auto-replenishing, they refill from a
/// real <c>System.Threading.Timer</c>; replenished by hand (<see cref="ReplenishingRateLimiter.TryReplenish"/>), they still measure
/// the time since the last refill with <c>Stopwatch</c> and refuse to refill before a real period passed. Either way a
/// test could only wait for real time. This limiter computes the refills owed since the last look whenever it is
/// asked, from the injected clock: no timer, so a limiter dropped at a policy reload needs no disposal, and a test
/// advances a fake clock by a period and sees the permits back. Refills land on the period boundaries, as an
/// auto-replenishing bucket's timer puts them, so <see cref="MetadataName.RetryAfter"/> is the exact time to the
/// boundary at which enough tokens are back. No queue: a request over the limit is refused at once.
/// </remarks>
internal sealed class ClockedRateLimiter : ReplenishingRateLimiter
{
    private readonly TimeProvider _time;
    private readonly int _limit;
    private readonly int _perPeriod;
    private readonly TimeSpan _period;
    private readonly long _start;
    private readonly Lock _lock = new();
    private long _periods;
    private int _tokens;
    private long _idleSince;
    private long _successful;
    private long _failed;

    public ClockedRateLimiter(TimeProvider time, int limit, int perPeriod, TimeSpan period)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(perPeriod, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        _time = time;
        _limit = limit;
        _perPeriod = perPeriod;
        _period = period;
        _start = _idleSince = time.GetTimestamp();
        _tokens = limit;
    }

    /// <summary>How long the bucket has been full; null while it is not.</summary>
    public override TimeSpan? IdleDuration
    {
        get
        {
            lock (_lock)
            {
                var now = _time.GetTimestamp();
                Refill(now);
                return _tokens == _limit ? _time.GetElapsedTime(_idleSince, now) : null;
            }
        }
    }

    /// <summary>True: the limiter refills itself (when asked), nothing needs to call <see cref="TryReplenish"/>.</summary>
    public override bool IsAutoReplenishing => true;

    public override TimeSpan ReplenishmentPeriod => _period;

    public override bool TryReplenish() => false;

    public override RateLimiterStatistics? GetStatistics()
    {
        lock (_lock)
        {
            Refill(_time.GetTimestamp());
            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = _tokens,
                CurrentQueuedCount = 0,
                TotalSuccessfulLeases = _successful,
                TotalFailedLeases = _failed,
            };
        }
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(permitCount, _limit);
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            Refill(now);
            if (_tokens >= permitCount && (permitCount > 0 || _tokens > 0))
            {
                _tokens -= permitCount;
                _successful++;
                return MeshRateLimitLease.Acquired;
            }

            _failed++;
            return MeshRateLimitLease.Refused(RetryAfter(now, Math.Max(permitCount, 1) - _tokens));
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(AttemptAcquireCore(permitCount));
    }

    /// <summary>Adds the tokens of the period boundaries passed since the last refill.</summary>
    private void Refill(long now)
    {
        var periods = _time.GetElapsedTime(_start, now).Ticks / _period.Ticks;
        if (periods <= _periods)
        {
            return;
        }

        var owed = (periods - _periods) * _perPeriod;
        _periods = periods;
        if (_tokens < _limit)
        {
            _tokens = (int)Math.Min(_limit, _tokens + owed);
            if (_tokens == _limit)
            {
                _idleSince = now;
            }
        }
    }

    /// <summary>The time from <paramref name="now"/> to the boundary at which <paramref name="missing"/> more tokens are back.</summary>
    private TimeSpan RetryAfter(long now, int missing)
    {
        var periodsNeeded = (missing + _perPeriod - 1) / _perPeriod;
        var due = TimeSpan.FromTicks((_periods + periodsNeeded) * _period.Ticks);
        return due - _time.GetElapsedTime(_start, now);
    }
}
