using Mesh.Client.Configuration;

namespace Mesh.Client.Resilience;

/// <summary>Checks a route's <c>Retry</c>: attempts, per-try timeout, conditions and backoff bounds.</summary>
internal static class RetryValidator
{
    public static void Validate(RetryOptions? retry, string path, List<string> errors)
    {
        if (retry is null)
        {
            return;
        }

        if (retry.Attempts is < 0 or > 10)
        {
            errors.Add($"{path}:Attempts: {retry.Attempts} must be between 0 and 10");
        }

        if (retry.PerTryTimeout is { } perTry)
        {
            ValidationRules.Positive(perTry, $"{path}:PerTryTimeout", errors);
        }

        RetryConditions.Parse(retry.RetryOn, $"{path}:RetryOn", errors);
        if (retry.BaseDelay < TimeSpan.Zero || retry.BaseDelay > ValidationRules.MaxDuration)
        {
            errors.Add($"{path}:BaseDelay: {retry.BaseDelay} must be between 00:00:00 and 1.00:00:00");
        }

        if (retry.MaxDelay < retry.BaseDelay || retry.MaxDelay > ValidationRules.MaxDuration)
        {
            errors.Add($"{path}:MaxDelay: {retry.MaxDelay} must be at least BaseDelay ({retry.BaseDelay}) and at most 1.00:00:00");
        }
    }
}
