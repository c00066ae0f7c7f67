using Mesh.Client.Internal;
using Mesh.Client.LoadBalancing;
using Mesh.Client.Routing;
using Mesh.Client.Runtime;

namespace Mesh.Client.Http;

/// <summary>
/// The state of one logical call through the mesh, shared by its attempts. A struct kept in the call loop's (pooled)
/// state machine, passed by reference: one object less per call. Pass it as <c>ref</c> where it changes and <c>in</c>
/// where it is only read, never by value: what a copy records (attempts, endpoints) would be lost.
/// </summary>
internal struct MeshCall
{
    public MeshCall(HttpRequestMessage request, Uri originalUri, ServiceModel service, RouteModel route,
        RouteDestination destination, long startTimestamp, long deadline, bool grpc, CancellationToken callerToken)
    {
        Request = request;
        OriginalUri = originalUri;
        Service = service;
        Route = route;
        Destination = destination;
        StartTimestamp = startTimestamp;
        Deadline = deadline;
        IsIdempotent = IsIdempotentMethod(request.Method);
        IsGrpc = grpc;
        UnjudgedToken = callerToken;
    }

    public HttpRequestMessage Request { get; }

    public Uri OriginalUri { get; }

    public ServiceModel Service { get; }

    public RouteModel Route { get; }

    public RouteDestination Destination { get; }

    public long StartTimestamp { get; }

    /// <summary>Timestamp after which the call has no time left; 0 when it has no deadline.</summary>
    public long Deadline { get; }

    public bool IsIdempotent { get; }

    /// <summary>A gRPC call (content type <c>application/grpc*</c>): retried, timed and failed the way gRPC expects.</summary>
    public bool IsGrpc { get; }

    /// <summary>
    /// Whether the request's body can be sent again after an attempt that may have read it (see
    /// <see cref="RequestBody"/>, and <see cref="Grpc.GrpcRequestBody"/> for gRPC).
    /// </summary>
    public bool IsReplayable { get; set; }

    /// <summary>
    /// The token whose cancellation says nothing about the endpoint an attempt went to: the caller's own, or the call's
    /// deadline when the caller chose it (the inbound request's budget, or the request's <c>grpc-timeout</c>) rather
    /// than the route. A budget anyone may send would otherwise let them open breakers and eject healthy endpoints.
    /// </summary>
    public CancellationToken UnjudgedToken { get; set; }

    public int Attempts { get; set; }

    /// <summary>The endpoint of the attempt in progress or last made.</summary>
    public EndpointState? CurrentEndpoint { get; set; }

    /// <summary>The endpoint a retry should avoid.</summary>
    public EndpointState? PreviousEndpoint { get; set; }

    /// <summary>The time left, or <see cref="Timeout.InfiniteTimeSpan"/> without a deadline; see <see cref="TimeLeft"/>.</summary>
    public readonly TimeSpan Remaining(TimeProvider timeProvider) => TimeLeft.Until(Deadline, timeProvider);

    /// <summary>RFC 9110: safe methods plus PUT and DELETE may be repeated with the same effect.</summary>
    private static bool IsIdempotentMethod(HttpMethod method) =>
        method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Options || method == HttpMethod.Trace ||
        method == HttpMethod.Put || method == HttpMethod.Delete;
}
