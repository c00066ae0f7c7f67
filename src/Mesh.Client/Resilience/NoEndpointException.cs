namespace Mesh.Client.Resilience;

/// <summary>No endpoint of the destination could be picked: the request was never sent.</summary>
internal sealed class NoEndpointException(string message) : HttpRequestException(HttpRequestError.ConnectionError, message);
