namespace Mesh.Client;

/// <summary>The algorithm of a rate limit rule, named after its System.Threading.RateLimiting counterpart.</summary>
public enum RateLimiterKind
{
    /// <summary>
    /// A bucket of <see cref="RateLimitRuleOptions.TokenLimit"/> tokens, refilled by
    /// <see cref="RateLimitRuleOptions.TokensPerPeriod"/> every <see cref="RateLimitRuleOptions.ReplenishmentPeriod"/>:
    /// bursts up to the bucket's size, a steady rate after that.
    /// </summary>
    TokenBucket,

    /// <summary>At most <see cref="RateLimitRuleOptions.PermitLimit"/> requests per <see cref="RateLimitRuleOptions.Window"/>.</summary>
    FixedWindow,
}
