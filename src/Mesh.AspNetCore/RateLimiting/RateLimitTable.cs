using System.Collections.Immutable;
using Mesh.Client.Hosting;

namespace Mesh.AspNetCore.RateLimiting;

/// <summary>
/// The rate limit rules in force, in order: the mesh-wide rules, then this service's policy's. Built off the request
/// path when the inbound model changes; a rule whose name and limiter settings are unchanged keeps its limiter.
/// </summary>
internal sealed class RateLimitTable
{
    private RateLimitTable(RateLimitRule[] rules)
    {
        Rules = rules;
        foreach (var rule in rules)
        {
            HasPathRules |= rule.HasPaths;
        }
    }

    public RateLimitRule[] Rules { get; }

    /// <summary>Whether any rule names paths: only then is the request's path read.</summary>
    public bool HasPathRules { get; }

    /// <summary>The table of <paramref name="rules"/>, or null when there are none (requests then pay one null check).</summary>
    public static RateLimitTable? Build(ImmutableArray<RateLimitRuleModel> rules, RateLimitTable? previous, TimeProvider time)
    {
        if (rules.IsDefaultOrEmpty)
        {
            return null;
        }

        // Each limiter of the previous table goes to at most one new rule: two rules with the same key (one mesh-wide,
        // one from the policy) keep counting apart.
        var kept = new Dictionary<string, Queue<CallerRateLimiter>>(StringComparer.Ordinal);
        foreach (var rule in previous?.Rules ?? [])
        {
            if (!kept.TryGetValue(rule.LimiterKey, out var queue))
            {
                kept[rule.LimiterKey] = queue = new Queue<CallerRateLimiter>();
            }

            queue.Enqueue(rule.Limiter);
        }

        var built = new RateLimitRule[rules.Length];
        for (var i = 0; i < rules.Length; i++)
        {
            var model = rules[i];
            var limiter = kept.TryGetValue(RateLimitRule.KeyOf(model), out var queue) && queue.TryDequeue(out var old)
                ? old
                : new CallerRateLimiter(time, model);
            built[i] = new RateLimitRule(model, limiter);
        }

        return new RateLimitTable(built);
    }
}
