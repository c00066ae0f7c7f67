using Mesh.Client.Configuration;

namespace Mesh.Client.Resilience;

/// <summary>Checks a service's <c>ConnectionPool</c>: positive limits, and a queue only behind a limit.</summary>
internal static class ConnectionPoolValidator
{
    public static void Validate(ConnectionPoolOptions? pool, string path, List<string> errors)
    {
        if (pool is null)
        {
            return;
        }

        if (pool.MaxRequests is { } max and < 1)
        {
            errors.Add($"{path}:MaxRequests: {max} must be at least 1");
        }

        if (pool.MaxPendingRequests is { } pending)
        {
            ValidationRules.NonNegative(pending, $"{path}:MaxPendingRequests", errors);
            if (pool.MaxRequests is null)
            {
                errors.Add($"{path}:MaxPendingRequests: requires MaxRequests (the queue is for calls beyond it)");
            }
        }
    }
}
