using Mesh.Client.Hosting;
using Microsoft.AspNetCore.Http;

namespace Mesh.AspNetCore.Inbound;

/// <summary>
/// Reads the caller's remaining budget (<c>x-mesh-timeout-ms</c>) and makes it the deadline of every outbound mesh
/// call made while serving the request. A caller can only shorten our work with it, never lengthen it: values are
/// clamped to [0, one day] and garbage is ignored.
/// </summary>
internal sealed class MeshInboundMiddleware(TimeProvider timeProvider) : IMiddleware
{
    // Async on purpose: an AsyncLocal set in an async method is undone when it returns, so one request's deadline
    // cannot leak into the connection's next request.
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Request.Headers.TryGetValue(MeshCallDeadline.TimeoutHeader, out var values) && values.Count == 1 &&
            MeshCallDeadline.TryParseBudget(values[0], out var budget))
        {
            MeshCallDeadline.Shorten(budget, timeProvider);
        }

        await next(context);
    }
}
