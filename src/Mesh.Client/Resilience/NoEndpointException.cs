namespace Mesh.Client.Resilience;

/// <summary>
/// Why an attempt was not sent: the destination of the call (a service, or a subset of it) has no endpoint at all. It
/// never reaches the caller: such an attempt is retried whatever the method, and when it was the last one the call
/// answers 503 with <c>x-mesh-fault: no-healthy-upstream</c> (gRPC: a trailers-only <c>UNAVAILABLE</c>).
/// </summary>
internal sealed class NoEndpointException(string message) : HttpRequestException(HttpRequestError.ConnectionError, message);
