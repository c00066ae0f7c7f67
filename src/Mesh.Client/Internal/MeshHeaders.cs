namespace Mesh.Client.Internal;

/// <summary>Header names the mesh reads and writes.</summary>
internal static class MeshHeaders
{
    /// <summary>
    /// The caller's remaining time budget in whole milliseconds. Relative rather than absolute so that clock skew
    /// between hosts cannot shorten or stretch it (the same choice gRPC makes with <c>grpc-timeout</c>).
    /// </summary>
    public const string Timeout = "x-mesh-timeout-ms";

    /// <summary>Set on responses the mesh made up itself (an injected abort) so nobody hunts the backend for them.</summary>
    public const string Fault = "x-mesh-fault";

    public const string GrpcStatus = "grpc-status";

    public const string GrpcMessage = "grpc-message";

    /// <summary>gRPC's own remaining budget (see <see cref="Grpc.GrpcTimeout"/>), read and written beside ours.</summary>
    public const string GrpcTimeout = "grpc-timeout";
}
