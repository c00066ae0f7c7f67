namespace Mesh.Client;

/// <summary>
/// Thrown by a mesh <see cref="HttpClient"/> when the destination of the call's last attempt (a service, or a subset
/// of it) has no endpoint at all: the request was not sent. Its <see cref="HttpRequestException.HttpRequestError"/>
/// is <see cref="HttpRequestError.ConnectionError"/>, as for an endpoint that refuses connections, so code that
/// handles connection failures handles this too.
/// </summary>
public sealed class NoEndpointException : HttpRequestException
{
    /// <summary>Creates the exception with a message naming the service and subset.</summary>
    /// <param name="message">What had no endpoint, for the logs.</param>
    public NoEndpointException(string message)
        : base(HttpRequestError.ConnectionError, message)
    {
    }
}
