using Mesh.Client.Configuration;

namespace Mesh.Client.LoadBalancing;

/// <summary>
/// Checks a <c>LoadBalancer:Locality</c>: one of <c>Failover</c> and <c>Distribute</c> at most, zone names as the
/// registry accepts them, each zone once, and distribute weights between 0 and 100 that sum to 100.
/// </summary>
internal static class LocalityValidator
{
    public static void Validate(LocalityOptions? locality, string path, List<string> errors)
    {
        if (locality is null)
        {
            errors.Add($"{path}: missing");
            return;
        }

        if (locality.Failover is null)
        {
            errors.Add($"{path}:Failover: missing");
        }

        if (locality.Distribute is null)
        {
            errors.Add($"{path}:Distribute: missing");
        }

        if (locality.Failover is null || locality.Distribute is null)
        {
            return;
        }

        if (locality.Failover.Count > 0 && locality.Distribute.Count > 0)
        {
            errors.Add($"{path}: set Failover or Distribute, not both");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < locality.Failover.Count; i++)
        {
            var zone = locality.Failover[i];
            if (!IsZone(zone))
            {
                errors.Add($"{path}:Failover:{i}: '{zone}' is not a valid zone (letters, digits, '-', '_' and '.', at most 63 characters)");
            }
            else if (!seen.Add(zone))
            {
                errors.Add($"{path}:Failover:{i}: '{zone}' is listed twice");
            }
        }

        if (locality.Distribute.Count == 0)
        {
            return;
        }

        var sum = 0L;
        foreach (var (zone, weight) in locality.Distribute)
        {
            if (!IsZone(zone))
            {
                errors.Add($"{path}:Distribute:{zone}: '{zone}' is not a valid zone (letters, digits, '-', '_' and '.', at most 63 characters)");
            }

            if (weight is < 0 or > 100)
            {
                errors.Add($"{path}:Distribute:{zone}: {weight} must be between 0 and 100");
            }

            sum += weight;
        }

        if (sum != 100)
        {
            errors.Add($"{path}:Distribute: weights sum to {sum}, must be 100");
        }
    }

    private static bool IsZone(string? zone) => zone is not null && PolicyValidator.IsValidName(zone);
}
