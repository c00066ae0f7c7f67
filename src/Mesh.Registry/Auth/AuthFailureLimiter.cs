using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Mesh.Registry;

/// <summary>
/// Failed authentications per remote address (see <see cref="RemoteAddressKey"/>), so tokens cannot be guessed at line
/// rate: an address gets <see cref="RegistryOptions.FailedAuthLimit"/> failures per
/// <see cref="RegistryOptions.FailedAuthWindow"/>, then every API call from it is refused with 429 before its token is
/// looked at, until its allowance comes back. Only a presented token that matches nothing counts: successful calls,
/// calls without a token and tokens that were made but have expired do not. Addresses that never failed cost a
/// dictionary miss per request and no memory.
/// </summary>
internal sealed partial class AuthFailureLimiter : IDisposable
{
    /// <summary>Above this many addresses, partitions whose allowance is whole again are swept (at most once a period).</summary>
    private const int SweepThreshold = 1024;

    private readonly ConcurrentDictionary<RemoteAddressKey, AuthFailureBucket> _partitions = new();
    private readonly TimeProvider _time;
    private readonly ILogger<AuthFailureLimiter> _logger;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _limited;
    private readonly int _limit;
    private readonly TimeSpan _window;
    private readonly TimeSpan _period;
    private long _sweptAt;

    public AuthFailureLimiter(IOptions<RegistryOptions> options, TimeProvider time, IMeterFactory meters, ILogger<AuthFailureLimiter> logger)
    {
        _time = time;
        _logger = logger;
        _limit = options.Value.FailedAuthLimit;
        _window = options.Value.FailedAuthWindow;
        _period = _limit > 0 ? _window / _limit : _window;
        var meter = meters.Create(RegistryMeter.Name);
        _failures = meter.CreateCounter<long>("mesh.registry.auth.failures", "{request}", "Requests whose bearer token matched no token.");
        _limited = meter.CreateCounter<long>("mesh.registry.auth.limited", "{request}",
            "Requests refused with 429 because their address used up its failed authentications.");
    }

    /// <summary>Whether calls from <paramref name="address"/> are refused now, and for how long.</summary>
    public bool IsLimited(IPAddress? address, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (_limit == 0 || !_partitions.TryGetValue(RemoteAddressKey.Of(address), out var bucket))
        {
            return false;
        }

        using var lease = bucket.AttemptAcquire(0);
        if (lease.IsAcquired)
        {
            return false;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : _period;
        _limited.Add(1);
        return true;
    }

    /// <summary>Counts a failed authentication from <paramref name="address"/>.</summary>
    public void RecordFailure(IPAddress? address)
    {
        _failures.Add(1);
        if (_limit == 0)
        {
            return;
        }

        var key = RemoteAddressKey.Of(address);
        AuthFailureBucket bucket;
        do
        {
            bucket = _partitions.GetOrAdd(key, static (_, s) => new AuthFailureBucket(s.Limit, s.Period, s.Time), (Limit: _limit, Period: _period, Time: _time));
            using var lease = bucket.AttemptAcquire(1);
        }
        while (bucket.IsRetired);

        using (var check = bucket.AttemptAcquire(0))
        {
            if (!check.IsAcquired && bucket.GetStatistics()?.TotalFailedLeases == 1)
            {
                // The first refusal of this bucket: logged once per address while it keeps failing, not once per call.
                LogTripped(_logger, address?.ToString() ?? "-", _limit, _window);
            }
        }

        Sweep(_time.GetUtcNow());
    }

    public void Dispose()
    {
        foreach (var partition in _partitions.Values)
        {
            partition.Dispose();
        }
    }

    private void Sweep(DateTimeOffset now)
    {
        var last = Interlocked.Read(ref _sweptAt);
        if (_partitions.Count <= SweepThreshold || now.UtcTicks - last < _window.Ticks || Interlocked.CompareExchange(ref _sweptAt, now.UtcTicks, last) != last)
        {
            return;
        }

        foreach (var (key, partition) in _partitions)
        {
            if (partition.TryRetire() && _partitions.TryRemove(key, out _))
            {
                partition.Dispose();
            }
        }
    }

    [LoggerMessage(120, LogLevel.Warning, "Registry auth: {Address} made {Limit} failed authentications within {Window}; its calls get 429 until its allowance comes back")]
    private static partial void LogTripped(ILogger logger, string address, int limit, TimeSpan window);
}
