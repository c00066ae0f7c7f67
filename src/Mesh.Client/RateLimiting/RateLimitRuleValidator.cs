using Mesh.Client.Configuration;
using Mesh.Client.Security;

namespace Mesh.Client.RateLimiting;

/// <summary>
/// Checks a <c>RateLimits</c> list, mesh-wide or a service's: each rule's name (required, unique in the list), what it
/// matches (as an authorization rule), and the settings of its limiter, which must be set, in range, and only those of
/// its limiter (a <c>Window</c> on a token bucket would silently mean nothing).
/// </summary>
internal static class RateLimitRuleValidator
{
    /// <summary>The most permits or tokens a rule may name: far above any per-instance rate a limit is useful for.</summary>
    public const int MaxPermits = 1_000_000;

    public static void Validate(IList<RateLimitRuleOptions> rules, string path, List<string> errors)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            var rulePath = $"{path}:{i}";
            if (rule is null)
            {
                errors.Add($"{rulePath}: missing rule");
                continue;
            }

            if (string.IsNullOrEmpty(rule.Name))
            {
                errors.Add($"{rulePath}:Name: required");
            }
            else if (!PolicyValidator.IsValidName(rule.Name))
            {
                errors.Add($"{rulePath}:Name: '{rule.Name}' is not a valid name (letters, digits, '-', '_' and '.', at most 63 characters)");
            }
            else if (!names.Add(rule.Name))
            {
                errors.Add($"{rulePath}:Name: '{rule.Name}' is the name of an earlier rule");
            }

            AuthorizationRuleValidator.ValidateMatch(rule.From, rule.Paths, rule.Methods, rulePath, errors);
            ValidateLimiter(rule, rulePath, errors);
        }
    }

    private static void ValidateLimiter(RateLimitRuleOptions rule, string path, List<string> errors)
    {
        switch (rule.Limiter)
        {
            case RateLimiterKind.TokenBucket:
                Permits(rule.TokenLimit, $"{path}:TokenLimit", errors);
                Permits(rule.TokensPerPeriod, $"{path}:TokensPerPeriod", errors);
                Period(rule.ReplenishmentPeriod, $"{path}:ReplenishmentPeriod", errors);
                if (rule.TokenLimit is { } limit && rule.TokensPerPeriod is { } perPeriod && perPeriod > limit && limit > 0)
                {
                    errors.Add($"{path}:TokensPerPeriod: {perPeriod} must not exceed TokenLimit ({limit}); the bucket holds no more");
                }

                NotFor(rule.PermitLimit is not null, "PermitLimit", rule.Limiter, path, errors);
                NotFor(rule.Window is not null, "Window", rule.Limiter, path, errors);
                break;
            case RateLimiterKind.FixedWindow:
                Permits(rule.PermitLimit, $"{path}:PermitLimit", errors);
                Period(rule.Window, $"{path}:Window", errors);
                NotFor(rule.TokenLimit is not null, "TokenLimit", rule.Limiter, path, errors);
                NotFor(rule.TokensPerPeriod is not null, "TokensPerPeriod", rule.Limiter, path, errors);
                NotFor(rule.ReplenishmentPeriod is not null, "ReplenishmentPeriod", rule.Limiter, path, errors);
                break;
            default:
                errors.Add($"{path}:Limiter: '{rule.Limiter}' is not TokenBucket or FixedWindow");
                break;
        }
    }

    private static void Permits(int? value, string path, List<string> errors)
    {
        if (value is null)
        {
            errors.Add($"{path}: required");
        }
        else if (value is < 1 or > MaxPermits)
        {
            errors.Add($"{path}: {value} must be between 1 and {MaxPermits}");
        }
    }

    private static void Period(TimeSpan? value, string path, List<string> errors)
    {
        if (value is null)
        {
            errors.Add($"{path}: required");
        }
        else if (value < TimeSpan.FromMilliseconds(1) || value > ValidationRules.MaxDuration)
        {
            errors.Add($"{path}: {value} must be between 00:00:00.001 and 1.00:00:00");
        }
    }

    private static void NotFor(bool set, string setting, RateLimiterKind limiter, string path, List<string> errors)
    {
        if (set)
        {
            errors.Add($"{path}:{setting}: not a setting of a {limiter} limiter");
        }
    }
}
