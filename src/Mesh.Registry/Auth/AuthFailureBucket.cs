using System.Threading.RateLimiting;

namespace Mesh.Registry;

/// <summary>
/// One address's allowance of failed authentications, as a <see cref="RateLimiter"/>: a token bucket of <c>limit</c>
/// failures, one coming back every <c>period</c>. The library's <see cref="TokenBucketRateLimiter"/> measures time
/// with its own clock even when replenished by hand, so this bucket reads the registry's <see cref="TimeProvider"/>
/// instead: deterministic on a test clock. <c>AttemptAcquire(0)</c> asks whether the allowance is used up (with
/// <see cref="MetadataName.RetryAfter"/> when it is), <c>AttemptAcquire(1)</c> counts a failure.
/// </summary>
internal sealed class AuthFailureBucket : RateLimiter
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly int _limit;
    private readonly TimeSpan _period;
    private int _available;
    private DateTimeOffset _refilledAt;
    private bool _retired;
    private long _successful;
    private long _failed;

    public AuthFailureBucket(int limit, TimeSpan period, TimeProvider time)
    {
        _limit = limit;
        _period = period;
        _time = time;
        _available = limit;
        _refilledAt = time.GetUtcNow();
    }

    /// <summary>Whole again since this long (the bucket holds nothing worth keeping); null while failures are counted.</summary>
    public override TimeSpan? IdleDuration
    {
        get
        {
            lock (_gate)
            {
                var now = _time.GetUtcNow();
                Refill(now);
                return _available == _limit ? now - _refilledAt : null;
            }
        }
    }

    /// <summary>True once <see cref="TryRetire"/> took it out of use: count the failure in a new bucket.</summary>
    public bool IsRetired
    {
        get
        {
            lock (_gate)
            {
                return _retired;
            }
        }
    }

    public override RateLimiterStatistics? GetStatistics()
    {
        lock (_gate)
        {
            Refill(_time.GetUtcNow());
            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = _available,
                CurrentQueuedCount = 0,
                TotalSuccessfulLeases = _successful,
                TotalFailedLeases = _failed,
            };
        }
    }

    /// <summary>Retires the bucket when its allowance is whole again; a retired bucket refuses nothing and counts nothing.</summary>
    public bool TryRetire()
    {
        lock (_gate)
        {
            Refill(_time.GetUtcNow());
            _retired = _available == _limit;
            return _retired;
        }
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(permitCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(permitCount, _limit);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            Refill(now);
            if (_retired || (permitCount == 0 ? _available > 0 : _available >= permitCount))
            {
                _available -= _retired ? 0 : permitCount;
                _successful++;
                return AuthFailureLease.Acquired;
            }

            _failed++;
            var missing = permitCount == 0 ? 1 : permitCount - _available;
            return AuthFailureLease.Refused((_refilledAt + (_period * missing)) - now);
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AttemptAcquireCore(permitCount));

    private void Refill(DateTimeOffset now)
    {
        var periods = (now - _refilledAt).Ticks / _period.Ticks;
        if (periods <= 0)
        {
            return;
        }

        var missing = _limit - _available;
        if (missing <= periods)
        {
            // Whole again: the next failure starts a fresh period.
            _available = _limit;
            _refilledAt = now;
        }
        else
        {
            _available += (int)periods;
            _refilledAt += _period * periods;
        }
    }
}
