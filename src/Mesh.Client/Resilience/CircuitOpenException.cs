namespace Mesh.Client;

/// <summary>
/// Thrown by a mesh <see cref="HttpClient"/> when the circuit breaker of every endpoint it tried refused the call's
/// last attempt: the request was not sent. Its <see cref="HttpRequestException.HttpRequestError"/> is
/// <see cref="HttpRequestError.ConnectionError"/>, as for an endpoint that refuses connections, so code that handles
/// connection failures handles this too.
/// </summary>
public sealed class CircuitOpenException : HttpRequestException
{
    /// <summary>Creates the exception with a message naming the service.</summary>
    /// <param name="message">What was refused, for the logs.</param>
    public CircuitOpenException(string message)
        : base(HttpRequestError.ConnectionError, message)
    {
    }
}
