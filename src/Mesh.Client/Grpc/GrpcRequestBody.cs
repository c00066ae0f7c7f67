namespace Mesh.Client.Grpc;

/// <summary>
/// Whether a gRPC request's body can be sent again by a retry. A body already in memory can; Grpc.Net.Client's unary
/// and server-streaming requests carry one message that their content writes when the transport asks, which the mesh
/// buffers first (one message, as Envoy buffers a retriable request); a client or duplex stream is written by the
/// caller while the call runs, cannot be buffered without waiting for the caller, and is not retried.
/// </summary>
internal static class GrpcRequestBody
{
    public static bool IsInMemory(HttpContent? content) => content is null or ByteArrayContent or ReadOnlyMemoryContent;

    /// <summary>Grpc.Net.Client's content for a single request message (an internal type: known by its name only).</summary>
    public static bool IsSingleMessage(HttpContent content)
    {
        var type = content.GetType();
        return type.IsGenericType && type.Name == "PushUnaryContent`2" && type.Namespace == "Grpc.Net.Client.Internal";
    }
}
