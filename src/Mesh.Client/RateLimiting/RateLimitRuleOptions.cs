namespace Mesh.Client;

/// <summary>
/// One inbound rate limit rule: which requests it counts (<see cref="From"/>, <see cref="Paths"/>,
/// <see cref="Methods"/>, matched as authorization rules match) and how many it lets through. The limit settings carry
/// the names of System.Threading.RateLimiting's <c>TokenBucketRateLimiterOptions</c> and
/// <c>FixedWindowRateLimiterOptions</c>; a rule sets only those of its <see cref="Limiter"/>.
/// </summary>
public sealed class RateLimitRuleOptions
{
    /// <summary>The rule's name: required, unique within its list; the <c>rule</c> label of <c>mesh.rate_limited</c>.</summary>
    public string? Name { get; set; }

    /// <summary>Calling service names, or <c>*</c> for any authenticated caller. Empty matches every caller.</summary>
    public IList<string> From { get; set; } = new List<string>();

    /// <summary>Paths, exact or as a prefix written <c>/x/*</c>. Empty matches every path.</summary>
    public IList<string> Paths { get; set; } = new List<string>();

    /// <summary>HTTP methods. Empty matches every method.</summary>
    public IList<string> Methods { get; set; } = new List<string>();

    /// <summary>The algorithm: <see cref="RateLimiterKind.TokenBucket"/> (default) or <see cref="RateLimiterKind.FixedWindow"/>.</summary>
    public RateLimiterKind Limiter { get; set; } = RateLimiterKind.TokenBucket;

    /// <summary>Token bucket: the bucket's size, the largest burst. Required for a token bucket.</summary>
    public int? TokenLimit { get; set; }

    /// <summary>Token bucket: tokens added every <see cref="ReplenishmentPeriod"/>. Required for a token bucket.</summary>
    public int? TokensPerPeriod { get; set; }

    /// <summary>Token bucket: how often <see cref="TokensPerPeriod"/> tokens are added. Required for a token bucket.</summary>
    public TimeSpan? ReplenishmentPeriod { get; set; }

    /// <summary>Fixed window: requests let through per <see cref="Window"/>. Required for a fixed window.</summary>
    public int? PermitLimit { get; set; }

    /// <summary>Fixed window: the window's length. Required for a fixed window.</summary>
    public TimeSpan? Window { get; set; }

    /// <summary>
    /// Whether each caller identity (the service its mTLS certificate proves; unauthenticated callers share one) has its
    /// own limiter, or all callers the rule matches share one. Default: shared.
    /// </summary>
    public bool PerCaller { get; set; }

    /// <summary>Whether a request over the limit is only logged and counted, and goes on.</summary>
    public bool DryRun { get; set; }
}
