using Mesh.Client.Configuration;

namespace Mesh.Client.Resilience;

/// <summary>Checks a service's <c>RetryBudget</c>: the ratio, the floor and the window retries are counted over.</summary>
internal static class RetryBudgetValidator
{
    public static void Validate(RetryBudgetOptions? rb, string path, List<string> errors)
    {
        if (rb is null)
        {
            return;
        }

        if (!double.IsFinite(rb.RetryRatio) || rb.RetryRatio < 0 || rb.RetryRatio > 1000)
        {
            errors.Add($"{path}:RetryRatio: {ValidationRules.Format(rb.RetryRatio)} must be between 0 and 1000");
        }

        ValidationRules.NonNegative(rb.MinRetriesPerSecond, $"{path}:MinRetriesPerSecond", errors);
        if (rb.Ttl < TimeSpan.FromSeconds(1) || rb.Ttl > TimeSpan.FromSeconds(60))
        {
            errors.Add($"{path}:Ttl: {rb.Ttl} must be between 00:00:01 and 00:01:00");
        }
    }
}
