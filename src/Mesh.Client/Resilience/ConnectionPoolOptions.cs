namespace Mesh.Client;

/// <summary>
/// Overflow limits on the calls this process makes to one destination service (Envoy's circuit breaker thresholds,
/// Istio's <c>connectionPool</c>). A call beyond both limits is answered at once with 503 and
/// <c>x-mesh-fault: overflow</c> (gRPC: a trailers-only <c>UNAVAILABLE</c>), so calls never queue without bound.
/// Both settings are optional; without <see cref="MaxRequests"/> there is no limit.
/// </summary>
public sealed class ConnectionPoolOptions
{
    /// <summary>
    /// How many calls to the service may be in flight at once, retries included in their call: a call holds its slot
    /// from its first attempt until its response headers are returned or it fails. At least 1; none by default.
    /// </summary>
    public int? MaxRequests { get; set; }

    /// <summary>
    /// How many more calls may wait, oldest first, for a slot when <see cref="MaxRequests"/> are in flight; a waiting
    /// call gives up at its deadline or when its caller cancels. At least 0; only with <see cref="MaxRequests"/>; 0
    /// by default.
    /// </summary>
    public int? MaxPendingRequests { get; set; }
}
