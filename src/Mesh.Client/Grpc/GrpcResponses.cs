using System.Globalization;
using System.Net;
using Mesh.Client.Internal;

namespace Mesh.Client.Grpc;

/// <summary>What makes a request gRPC to the mesh, and the responses the mesh answers gRPC calls with itself.</summary>
internal static class GrpcResponses
{
    public const int DeadlineExceeded = 4;
    public const int Unavailable = 14;

    /// <summary>gRPC is any request whose content type starts with <c>application/grpc</c> (+proto, +json, -web...).</summary>
    public static bool IsGrpc(HttpRequestMessage request) =>
        request.Content?.Headers.ContentType?.MediaType is { } media && media.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A trailers-only gRPC response: HTTP 200, <c>application/grpc</c>, the status and message in the headers and no
    /// body, which a gRPC client reads as the call's final status. <paramref name="fault"/> goes in
    /// <c>x-mesh-fault</c>, so nobody hunts the backend for an answer the mesh made up.
    /// </summary>
    public static HttpResponseMessage TrailersOnly(HttpRequestMessage request, int status, string message, string fault)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request, Version = request.Version };
        response.Content = new ByteArrayContent([]);
        response.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        response.Headers.TryAddWithoutValidation(MeshHeaders.GrpcStatus, status.ToString(CultureInfo.InvariantCulture));

        // grpc-message is percent-encoded on the wire; the mesh's own messages are plain ASCII without '%'.
        response.Headers.TryAddWithoutValidation(MeshHeaders.GrpcMessage, message);
        response.Headers.TryAddWithoutValidation(MeshHeaders.Fault, fault);
        return response;
    }

    /// <summary>Whether the response's headers carry the call's status: a trailers-only response, no message follows.</summary>
    public static bool IsTrailersOnly(HttpResponseMessage response) => response.Headers.NonValidated.Contains(MeshHeaders.GrpcStatus);
}
