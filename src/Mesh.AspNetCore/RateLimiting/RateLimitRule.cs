using System.Globalization;
using Mesh.AspNetCore.Security;
using Mesh.Client.Hosting;

namespace Mesh.AspNetCore.RateLimiting;

/// <summary>
/// One rate limit rule compiled: what it matches, as an authorization DENY rule matches (every spelling the router
/// accepts of a limited path, and the endpoint routing chose, is limited), and its limiter.
/// </summary>
internal sealed class RateLimitRule
{
    private readonly AuthorizationRule _match;

    public RateLimitRule(RateLimitRuleModel model, CallerRateLimiter limiter)
    {
        Name = model.Name;
        DryRun = model.DryRun;
        Period = model.Period;
        LimiterKey = KeyOf(model);
        Limiter = limiter;
        _match = AuthorizationRule.Create(model.From, model.Paths, model.Methods);
    }

    public string Name { get; }

    public bool DryRun { get; }

    /// <summary>The replenishment period or window: the Retry-After of a refusal whose lease names none.</summary>
    public TimeSpan Period { get; }

    public bool HasPaths => _match.HasPaths;

    public CallerRateLimiter Limiter { get; }

    /// <summary>What the limiter's state depends on: a reloaded rule with the same key keeps its limiter, and its buckets.</summary>
    public string LimiterKey { get; }

    /// <summary>
    /// The rule's name and limiter settings. What it matches is not part of it: a rule whose paths or callers change
    /// keeps counting where it was.
    /// </summary>
    public static string KeyOf(RateLimitRuleModel model) => string.Create(CultureInfo.InvariantCulture,
        $"{model.Name}|{model.Limiter}|{model.Limit}|{model.PerPeriod}|{model.Period.Ticks}|{model.PerCaller}");

    /// <summary>
    /// Whether the rule counts the request; for a path with no single reading (<paramref name="ambiguous"/>) a rule
    /// with paths counts it when it matches the caller and method, since the path could be any of its paths.
    /// </summary>
    public bool Matches(string? caller, in AuthorizationTarget target, string method, bool ambiguous) =>
        ambiguous ? _match.MatchesCallerAndMethod(caller, method) : _match.Matches(caller, target, method, deny: true);
}
