using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using Mesh.Client.Hosting;

namespace Mesh.AspNetCore.RateLimiting;

/// <summary>
/// The limiter of one rate limit rule, partitioned by caller identity: with <c>PerCaller</c> each caller service (as
/// its mTLS certificate proves it) has its own bucket and unauthenticated callers share one; without, every caller
/// shares one. The partitions need no eviction: callers are the services the mesh's CA issued certificates to, and a
/// caller cannot choose another identity by what it sends (a header names nothing here).
/// </summary>
internal sealed class CallerRateLimiter : PartitionedRateLimiter<string?>
{
    private readonly TimeProvider _time;
    private readonly RateLimitRuleModel _rule;
    private readonly RateLimiter? _shared;
    private readonly ConcurrentDictionary<string, RateLimiter>? _callers;
    private readonly Func<string, RateLimiter>? _create;
    private RateLimiter? _unauthenticated;

    public CallerRateLimiter(TimeProvider time, RateLimitRuleModel rule)
    {
        _time = time;
        _rule = rule;
        if (rule.PerCaller)
        {
            // Service names compare ignoring case, as the rules' From does.
            _callers = new ConcurrentDictionary<string, RateLimiter>(StringComparer.OrdinalIgnoreCase);
            _create = _ => Create();
        }
        else
        {
            _shared = Create();
        }
    }

    public override RateLimiterStatistics? GetStatistics(string? resource) => LimiterOf(resource).GetStatistics();

    protected override RateLimitLease AttemptAcquireCore(string? resource, int permitCount) => LimiterOf(resource).AttemptAcquire(permitCount);

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(string? resource, int permitCount, CancellationToken cancellationToken) =>
        LimiterOf(resource).AcquireAsync(permitCount, cancellationToken);

    /// <summary>The limiter of <paramref name="caller"/> (null: an unauthenticated caller).</summary>
    private RateLimiter LimiterOf(string? caller)
    {
        if (_shared is not null)
        {
            return _shared;
        }

        if (caller is null)
        {
            // Kept apart from the named callers, so no service name can share the unauthenticated bucket.
            return Volatile.Read(ref _unauthenticated) ?? Interlocked.CompareExchange(ref _unauthenticated, Create(), null) ?? _unauthenticated!;
        }

        return _callers!.GetOrAdd(caller, _create!);
    }

    private ClockedRateLimiter Create() => new(_time, _rule.Limit, _rule.PerPeriod, _rule.Period);
}
