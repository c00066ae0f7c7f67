using Mesh.Client.Configuration;

namespace Mesh.Client.Resilience;

/// <summary>Checks an enabled <c>CircuitBreaker</c>; a disabled one's settings are never used.</summary>
internal static class CircuitBreakerValidator
{
    public static void Validate(CircuitBreakerOptions? cb, string path, List<string> errors)
    {
        if (cb is not { Enabled: true })
        {
            return;
        }

        // These bounds are the circuit breaker engine's own; checking them here turns a crash into an error.
        if (!double.IsFinite(cb.FailureRatio) || cb.FailureRatio <= 0 || cb.FailureRatio > 1)
        {
            errors.Add($"{path}:FailureRatio: {ValidationRules.Format(cb.FailureRatio)} must be above 0 and at most 1");
        }

        if (cb.MinimumThroughput < 2)
        {
            errors.Add($"{path}:MinimumThroughput: {cb.MinimumThroughput} must be at least 2");
        }

        if (cb.SamplingDuration < TimeSpan.FromMilliseconds(500) || cb.SamplingDuration > ValidationRules.MaxDuration)
        {
            errors.Add($"{path}:SamplingDuration: {cb.SamplingDuration} must be between 00:00:00.5 and 1.00:00:00");
        }

        if (cb.BreakDuration < TimeSpan.FromMilliseconds(500) || cb.BreakDuration > ValidationRules.MaxDuration)
        {
            errors.Add($"{path}:BreakDuration: {cb.BreakDuration} must be between 00:00:00.5 and 1.00:00:00");
        }
    }
}
