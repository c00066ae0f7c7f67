using System.Threading.RateLimiting;

namespace Mesh.Client.Resilience;

/// <summary>
/// The overflow limit of one destination service: a <see cref="ConcurrencyLimiter"/> with <see cref="MaxRequests"/>
/// permits and a queue of <see cref="MaxPendingRequests"/>, oldest first. A call takes one permit for all its attempts.
/// </summary>
/// <remarks>
/// State, not model: it is kept across policy reloads while the two settings stay the same, so the calls in flight
/// keep counting. Changed settings start a new limiter empty; the old one is left to the calls that hold or wait for
/// its permits (they release into it and are served by it), so for the length of those calls the service may see up
/// to the old and the new limit together. It is never disposed: a limiter has no timer or handle, and disposing it
/// would fail the calls still waiting in its queue.
/// </remarks>
internal sealed class ConnectionPoolLimit
{
    private ConnectionPoolLimit(int maxRequests, int maxPendingRequests)
    {
        MaxRequests = maxRequests;
        MaxPendingRequests = maxPendingRequests;
        Limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = maxRequests,
            QueueLimit = maxPendingRequests,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    public int MaxRequests { get; }

    public int MaxPendingRequests { get; }

    public ConcurrencyLimiter Limiter { get; }

    /// <summary>
    /// The limit for <paramref name="options"/>: <paramref name="current"/> when its settings are the same, a new one
    /// when they changed, null when the service has no <c>MaxRequests</c>.
    /// </summary>
    public static ConnectionPoolLimit? Resolve(ConnectionPoolOptions options, ConnectionPoolLimit? current)
    {
        if (options.MaxRequests is not { } max)
        {
            return null;
        }

        var pending = options.MaxPendingRequests ?? 0;
        return current is not null && current.MaxRequests == max && current.MaxPendingRequests == pending
            ? current
            : new ConnectionPoolLimit(max, pending);
    }

    /// <summary>Why a call overflowed, for its answer.</summary>
    public string Describe(string service) =>
        $"Service '{service}' has {MaxRequests} call(s) in flight and {MaxPendingRequests} waiting, its ConnectionPool limits: overflow.";
}
