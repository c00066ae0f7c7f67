using Mesh.Client.Configuration;

namespace Mesh.Client.LoadBalancing;

/// <summary>Checks a <c>LoadBalancer:SlowStart</c>: a window, a positive aggression, a minimum weight, a policy that can weight.</summary>
internal static class SlowStartValidator
{
    public static void Validate(SlowStartOptions slowStart, LoadBalancerPolicy policy, string path, List<string> errors)
    {
        if (policy == LoadBalancerPolicy.RingHash)
        {
            // As in Envoy: a hash ring has no weight to ramp; shrinking a new endpoint's arc would move keys twice.
            errors.Add($"{path}: not supported by the RingHash policy");
        }

        ValidationRules.Positive(slowStart.Window, $"{path}:Window", errors);
        if (!double.IsFinite(slowStart.Aggression) || slowStart.Aggression <= 0)
        {
            errors.Add($"{path}:Aggression: {ValidationRules.Format(slowStart.Aggression)} must be above 0");
        }

        ValidationRules.Percentage(slowStart.MinWeightPercent, $"{path}:MinWeightPercent", errors);
    }
}
