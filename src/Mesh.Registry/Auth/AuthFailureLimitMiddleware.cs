using System.Globalization;

namespace Mesh.Registry;

/// <summary>
/// Refuses API calls (<c>/v1/...</c>) from an address that used up its failed authentications with 429 and
/// <c>Retry-After</c>, before any token is looked at (see <see cref="AuthFailureLimiter"/>).
/// </summary>
internal sealed class AuthFailureLimitMiddleware(RequestDelegate next, AuthFailureLimiter limiter)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase) ||
            !limiter.IsLimited(context.Connection.RemoteIpAddress, out var retryAfter))
        {
            return next(context);
        }

        var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many failed authentications",
            detail: $"Too many requests from this address presented an unknown token; try again in {seconds} s.").ExecuteAsync(context);
    }
}
