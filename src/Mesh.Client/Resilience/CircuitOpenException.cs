namespace Mesh.Client.Resilience;

/// <summary>The circuit breaker of the picked endpoint refused the attempt: the request was never sent.</summary>
internal sealed class CircuitOpenException(string message) : HttpRequestException(HttpRequestError.ConnectionError, message);
