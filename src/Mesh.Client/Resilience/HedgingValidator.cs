using Mesh.Client.Configuration;

namespace Mesh.Client.Resilience;

/// <summary>
/// Checks a route's <c>Hedging</c>: 2 to 10 attempts, and a delay that leaves the hedge time to run before the route's
/// timeout or the attempt's per-try timeout ends the hedged group.
/// </summary>
internal static class HedgingValidator
{
    public static void Validate(HedgingOptions? hedging, RouteOptions route, string path, List<string> errors)
    {
        if (hedging is null)
        {
            return;
        }

        if (hedging.MaxAttempts is < 2 or > 10)
        {
            errors.Add($"{path}:MaxAttempts: {hedging.MaxAttempts} must be between 2 and 10");
        }

        if (hedging.Delay is not { } delay)
        {
            errors.Add($"{path}:Delay: required (how long an attempt waits before the next hedge starts)");
            return;
        }

        if (delay < TimeSpan.Zero || delay > ValidationRules.MaxDuration)
        {
            errors.Add($"{path}:Delay: {delay} must be between 00:00:00 and 1.00:00:00");
        }
        else if (route.Timeout is { } timeout && timeout > TimeSpan.Zero && delay >= timeout)
        {
            errors.Add($"{path}:Delay: {delay} must be below the route's Timeout ({timeout}): no hedge could start");
        }
        else if (route.Retry?.PerTryTimeout is { } perTry && perTry > TimeSpan.Zero && delay >= perTry)
        {
            errors.Add($"{path}:Delay: {delay} must be below Retry:PerTryTimeout ({perTry}), which bounds the hedged group: no hedge could start");
        }
    }
}
