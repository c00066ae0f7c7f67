using Mesh.Registry.Store;
using Microsoft.AspNetCore.Diagnostics;

namespace Mesh.Registry.Api;

/// <summary>
/// A request whose store call failed because the store is out of reach answers 503 problem+json naming the cause,
/// with <c>Retry-After</c>, instead of a bare 500: clients keep their last state and try another replica.
/// </summary>
internal sealed class StoreUnavailableHandler(IProblemDetailsService problems, ILogger<StoreUnavailableHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not RegistryStoreUnavailableException unavailable)
        {
            return false;
        }

        logger.LogWarning("{Method} {Path}: the store is unavailable: {Reason}", context.Request.Method, context.Request.Path, unavailable.Message);
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = "1";
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "The registry's store is unavailable",
                Detail = unavailable.Message,
            },
        });
    }
}
