using Mesh.Client.Grpc;
using Mesh.Client.Http;
using Mesh.Client.Internal;
using Microsoft.AspNetCore.Http;

namespace Mesh.AspNetCore.Inbound;

/// <summary>
/// Reads the caller's remaining budget (<c>x-mesh-timeout-ms</c>, or gRPC's <c>grpc-timeout</c>; the smaller if both
/// came) and makes it the deadline of every outbound mesh call made while serving the request. A caller can only
/// shorten our work with it, never lengthen it: values are clamped to [0, one day] and garbage is ignored, as a gRPC
/// server ignores a malformed grpc-timeout.
/// </summary>
internal sealed class MeshInboundMiddleware(TimeProvider timeProvider) : IMiddleware
{
    // Async on purpose: an AsyncLocal set in an async method is undone when it returns, so one request's deadline
    // cannot leak into the connection's next request.
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var headers = context.Request.Headers;
        var found = false;
        var budget = TimeSpan.MaxValue;
        if (headers.TryGetValue(MeshHeaders.Timeout, out var values) && values.Count == 1 &&
            MeshDeadline.TryParseBudget(values[0], out var meshBudget))
        {
            found = true;
            budget = meshBudget;
        }

        if (headers.TryGetValue(MeshHeaders.GrpcTimeout, out values) && values.Count == 1 &&
            GrpcTimeout.TryParse(values[0], out var grpcBudget))
        {
            found = true;
            budget = grpcBudget < budget ? grpcBudget : budget;
        }

        if (found)
        {
            var now = timeProvider.GetTimestamp();
            var deadline = now + (long)(budget.TotalSeconds * timeProvider.TimestampFrequency);

            // Never extend a deadline this request already inherited (a mesh hop served in-process).
            var inherited = MeshDeadline.Value;
            MeshDeadline.Set(inherited != 0 && inherited < deadline ? inherited : Math.Max(deadline, 1));
        }

        await next(context);
    }
}
