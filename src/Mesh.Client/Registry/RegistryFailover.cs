using System.Net;
using Mesh.Client.Internal;
using Microsoft.Extensions.Logging;

namespace Mesh.Client.Registry;

/// <summary>
/// The registry's replicas and which one every registry call goes to now: the same one until it fails (a connection
/// that cannot be made or breaks, no answer in time, or a 500, 502, 503 or 504), then the next in the configured order,
/// after a jittered exponential backoff. One per <see cref="RegistryTransport"/>, so registration, certificates, the
/// trust bundle and every watch move together instead of each finding the dead replica on its own.
/// </summary>
/// <remarks>
/// A replica is left only by the call that found it failing while it was still the current one: when many watches
/// fail on the same dead replica at once, the first moves the set on and the others retry on the replica it moved
/// to, rather than each skipping one further.
/// </remarks>
internal sealed partial class RegistryFailover
{
    internal static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(100);
    internal static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long one call may take at a replica beyond what it asked the registry to wait, before the next replica is
    /// tried. Armed only when there is a next replica to try.
    /// </summary>
    internal static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(10);

    private readonly Uri[] _replicas;
    private readonly RandomSource _random;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private int _current;
    private int _failures;

    public RegistryFailover(Uri[] replicas, RandomSource random, ILogger logger)
    {
        _replicas = replicas;
        _random = random;
        _logger = logger;
    }

    /// <summary>The replicas in the order they are tried.</summary>
    public IReadOnlyList<Uri> Replicas => _replicas;

    /// <summary>The replica calls go to now; null when no registry is configured.</summary>
    public Uri? Current
    {
        get
        {
            lock (_gate)
            {
                return _replicas.Length == 0 ? null : _replicas[_current];
            }
        }
    }

    /// <summary>Failures in a row, across replicas, since a replica last answered.</summary>
    public int ConsecutiveFailures
    {
        get
        {
            lock (_gate)
            {
                return _failures;
            }
        }
    }

    /// <summary>Whether there is another replica to go to (a call arms its deadline only then: with one, it can only wait).</summary>
    public bool HasAlternatives => _replicas.Length > 1;

    /// <summary>Whether the registry's answer <paramref name="status"/> means the replica is not serving, rather than an answer.</summary>
    public static bool IsUnavailable(HttpStatusCode status) =>
        status is HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>
    /// Exponential in <paramref name="failures"/> (from <see cref="MinBackoff"/>, capped at <see cref="MaxBackoff"/>),
    /// with full jitter so that a fleet losing its replica does not arrive at the next one in step.
    /// </summary>
    public static TimeSpan Backoff(int failures, RandomSource random)
    {
        var ceiling = Math.Min(MaxBackoff.Ticks, MinBackoff.Ticks * (1L << Math.Clamp(failures, 0, 20)));
        return TimeSpan.FromTicks(Math.Max(MinBackoff.Ticks / 2, (long)(random.NextDouble() * ceiling)));
    }

    /// <summary><paramref name="replica"/> answered: it stays current, and the backoff starts over.</summary>
    public void Succeeded(Uri replica)
    {
        bool recovered;
        lock (_gate)
        {
            recovered = _failures > 0 && ReferenceEquals(_replicas[_current], replica);
            if (recovered)
            {
                _failures = 0;
            }
        }

        if (recovered)
        {
            LogAnswered(_logger, replica);
        }
    }

    /// <summary>
    /// <paramref name="replica"/> failed: when it is still the current one the next replica becomes current. Gives how
    /// long to wait before the next call.
    /// </summary>
    public TimeSpan Failed(Uri replica, string reason)
    {
        Uri? next = null;
        int failures;
        lock (_gate)
        {
            if (ReferenceEquals(_replicas[_current], replica))
            {
                _failures++;
                _current = (_current + 1) % _replicas.Length;
                next = _replicas[_current];
            }

            failures = Math.Max(_failures, 1);
        }

        var delay = Backoff(failures, _random);
        if (next is not null && _replicas.Length > 1)
        {
            LogFailedOver(_logger, replica, reason, next, delay.TotalMilliseconds);
        }

        return delay;
    }

    /// <summary>The replica <paramref name="request"/> goes to: the one whose base URL it starts with, else the first.</summary>
    public Uri? ReplicaOf(Uri? request)
    {
        if (request is not null)
        {
            var text = request.AbsoluteUri;
            foreach (var replica in _replicas)
            {
                if (text.StartsWith(replica.AbsoluteUri, StringComparison.OrdinalIgnoreCase))
                {
                    return replica;
                }
            }
        }

        return _replicas.Length == 0 ? null : _replicas[0];
    }

    [LoggerMessage(133, LogLevel.Warning, "Registry replica {Replica} failed ({Reason}); calls go to {Next} after {DelayMs:F0} ms")]
    private static partial void LogFailedOver(ILogger logger, Uri replica, string reason, Uri next, double delayMs);

    [LoggerMessage(134, LogLevel.Information, "Registry replica {Replica} answers")]
    private static partial void LogAnswered(ILogger logger, Uri replica);
}
