using Mesh.Client.Hosting;
using Microsoft.AspNetCore.Http;

namespace Mesh.AspNetCore.Inbound;

/// <summary>
/// Reads the caller's remaining budget (<c>x-mesh-timeout-ms</c>, or gRPC's <c>grpc-timeout</c>; the smaller if both
/// came) and makes it the deadline of every outbound mesh call made while serving the request. A caller can only
/// shorten our work with it, never lengthen it: values are clamped to [0, one day] and garbage is ignored, as a gRPC
/// server ignores a malformed grpc-timeout. While the app drains before a graceful stop, HTTP/1.x responses carry
/// <c>Connection: close</c>: a caller that still holds a kept-alive connection opens a new one for its next request,
/// which a load balancer in between sends elsewhere, and fewer idle connections remain for Kestrel's stop to cut.
/// </summary>
internal sealed class MeshInboundMiddleware(TimeProvider timeProvider, MeshDrainState drain) : IMiddleware
{
    // Async on purpose: an AsyncLocal set in an async method is undone when it returns, so one request's deadline
    // cannot leak into the connection's next request.
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (drain.Draining && (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol)))
        {
            // HTTP/2 and HTTP/3 have no such header (the stop's GOAWAY tells their callers).
            context.Response.Headers.Connection = "close";
        }

        var headers = context.Request.Headers;
        var found = false;
        var budget = TimeSpan.MaxValue;
        if (headers.TryGetValue(MeshCallDeadline.TimeoutHeader, out var values) && values.Count == 1 &&
            MeshCallDeadline.TryParseBudget(values[0], out var meshBudget))
        {
            found = true;
            budget = meshBudget;
        }

        if (headers.TryGetValue(MeshCallDeadline.GrpcTimeoutHeader, out values) && values.Count == 1 &&
            MeshCallDeadline.TryParseGrpcTimeout(values[0], out var grpcBudget))
        {
            found = true;
            budget = grpcBudget < budget ? grpcBudget : budget;
        }

        if (found)
        {
            MeshCallDeadline.Shorten(budget, timeProvider);
        }

        await next(context);
    }
}
