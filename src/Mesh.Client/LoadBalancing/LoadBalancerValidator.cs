using Mesh.Client.Configuration;

namespace Mesh.Client.LoadBalancing;

/// <summary>Checks a service's <c>LoadBalancer</c>: a known policy, the header RingHash hashes, the health threshold, slow start, locality.</summary>
internal static class LoadBalancerValidator
{
    public static void Validate(LoadBalancerOptions? lb, string path, List<string> errors)
    {
        if (lb is null)
        {
            errors.Add($"{path}: missing");
            return;
        }

        if (!Enum.IsDefined(lb.Policy))
        {
            errors.Add($"{path}:Policy: '{lb.Policy}' is not one of {string.Join(", ", Enum.GetNames<LoadBalancerPolicy>())}");
        }
        else if (lb.Policy == LoadBalancerPolicy.RingHash && string.IsNullOrWhiteSpace(lb.HashHeader))
        {
            errors.Add($"{path}:HashHeader: required by the RingHash policy");
        }

        if (lb.HashHeader is { Length: > 0 } header && !ValidationRules.IsToken(header))
        {
            errors.Add($"{path}:HashHeader: '{header}' is not a valid header name");
        }

        ValidationRules.Percentage(lb.MinHealthPercent, $"{path}:MinHealthPercent", errors);
        if (lb.SlowStart is { } slowStart)
        {
            SlowStartValidator.Validate(slowStart, lb.Policy, $"{path}:SlowStart", errors);
        }
        LocalityValidator.Validate(lb.Locality, $"{path}:Locality", errors);
    }
}
