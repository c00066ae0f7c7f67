using System.Globalization;

namespace Mesh.Registry.Watches;

/// <summary>The 429 problem+json of a watch refused by <see cref="WatchLimiter"/>, with a <c>Retry-After</c>.</summary>
internal static class TooManyWatches
{
    /// <summary>Seconds a refused watcher is told to wait; by then a parked watch has often answered or timed out.</summary>
    public const int RetryAfterSeconds = 5;

    public static IResult Problem(HttpContext context, TooManyWatchesException refused)
    {
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many watches",
            detail: string.Create(CultureInfo.InvariantCulture,
                $"This caller has {refused.Limit} watches parked, the most MeshRegistry:MaxWatchesPerCaller allows; retry when one has answered."));
    }
}
