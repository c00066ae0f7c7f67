namespace Mesh.Client.Resilience;

/// <summary>The parsed <c>RetryOn</c> list of a route: named conditions plus explicit status codes.</summary>
[Flags]
internal enum RetryCondition
{
    None = 0,
    ConnectFailure = 1 << 0,
    RefusedStream = 1 << 1,
    Reset = 1 << 2,
    Status5xx = 1 << 3,
    GatewayError = 1 << 4,
    Retriable4xx = 1 << 5,
    GrpcUnavailable = 1 << 6,
    GrpcCancelled = 1 << 7,
    GrpcDeadlineExceeded = 1 << 8,
    GrpcResourceExhausted = 1 << 9,
    GrpcInternal = 1 << 10,
}
