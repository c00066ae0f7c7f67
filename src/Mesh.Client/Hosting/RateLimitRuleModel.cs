using System.Collections.Immutable;

namespace Mesh.Client.Hosting;

/// <summary>
/// One rate limit rule in force: an immutable copy of a validated <see cref="RateLimitRuleOptions"/>, its limiter's
/// settings in one shape for both kinds. A hosting seam.
/// </summary>
public sealed class RateLimitRuleModel
{
    private RateLimitRuleModel(string name, ImmutableArray<string> from, ImmutableArray<string> paths, ImmutableArray<string> methods,
        RateLimiterKind limiter, int limit, int perPeriod, TimeSpan period, bool perCaller, bool dryRun)
    {
        Name = name;
        From = from;
        Paths = paths;
        Methods = methods;
        Limiter = limiter;
        Limit = limit;
        PerPeriod = perPeriod;
        Period = period;
        PerCaller = perCaller;
        DryRun = dryRun;
    }

    /// <summary>The rule's name.</summary>
    public string Name { get; }

    /// <summary>The caller services the rule counts; <c>*</c> is any authenticated caller; empty is every caller.</summary>
    public ImmutableArray<string> From { get; }

    /// <summary>Exact paths, or prefixes ending in <c>/*</c>; empty matches every path.</summary>
    public ImmutableArray<string> Paths { get; }

    /// <summary>HTTP methods; empty matches every method.</summary>
    public ImmutableArray<string> Methods { get; }

    /// <summary>The algorithm.</summary>
    public RateLimiterKind Limiter { get; }

    /// <summary>A token bucket's <c>TokenLimit</c>, or a fixed window's <c>PermitLimit</c>.</summary>
    public int Limit { get; }

    /// <summary>A token bucket's <c>TokensPerPeriod</c>; a fixed window's <c>PermitLimit</c> (a new window restores all).</summary>
    public int PerPeriod { get; }

    /// <summary>A token bucket's <c>ReplenishmentPeriod</c>, or a fixed window's <c>Window</c>.</summary>
    public TimeSpan Period { get; }

    /// <summary>Whether each caller identity has its own limiter.</summary>
    public bool PerCaller { get; }

    /// <summary>Whether a request over the limit is only logged and counted.</summary>
    public bool DryRun { get; }

    /// <summary>A rule of options that passed validation: every setting of its limiter is present.</summary>
    internal static RateLimitRuleModel Of(RateLimitRuleOptions options) =>
        options.Limiter == RateLimiterKind.FixedWindow
            ? new(options.Name!, [.. options.From], [.. options.Paths], [.. options.Methods], options.Limiter,
                options.PermitLimit!.Value, options.PermitLimit.Value, options.Window!.Value, options.PerCaller, options.DryRun)
            : new(options.Name!, [.. options.From], [.. options.Paths], [.. options.Methods], options.Limiter,
                options.TokenLimit!.Value, options.TokensPerPeriod!.Value, options.ReplenishmentPeriod!.Value, options.PerCaller, options.DryRun);
}
