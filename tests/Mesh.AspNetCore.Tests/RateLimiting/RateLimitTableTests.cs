using Mesh.AspNetCore.RateLimiting;
using Mesh.AspNetCore.Security;
using Mesh.Client;
using Mesh.Client.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.AspNetCore.Tests.RateLimiting;

/// <summary>Rules are rebuilt on every policy change; a rule whose limiter settings are unchanged keeps its buckets.</summary>
public sealed class RateLimitTableTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void No_rules_build_no_table()
    {
        RateLimitTable.Build([], previous: null, _time).ShouldBeNull();
    }

    [Fact]
    public void A_reload_keeps_the_limiters_of_unchanged_rules_and_replaces_changed_ones()
    {
        var first = RateLimitTable.Build([Rule("a", 5), Rule("b", 5), Rule("c", 5)], previous: null, _time)!;
        first.Rules[0].Limiter.AttemptAcquire("productpage").Dispose();

        // "a" changes only what it matches; "b" its limit; "c" is gone and "d" is new.
        var second = RateLimitTable.Build([Rule("a", 5, paths: ["/x/*"]), Rule("b", 6), Rule("d", 5)], first, _time)!;

        second.Rules[0].Limiter.ShouldBeSameAs(first.Rules[0].Limiter);
        second.Rules[0].Limiter.GetStatistics("productpage")!.CurrentAvailablePermits.ShouldBe(4);
        second.Rules[0].HasPaths.ShouldBeTrue();
        second.Rules[1].Limiter.ShouldNotBeSameAs(first.Rules[1].Limiter);
        second.Rules[2].Limiter.ShouldNotBeSameAs(first.Rules[2].Limiter);
        second.HasPathRules.ShouldBeTrue();
        first.HasPathRules.ShouldBeFalse();
    }

    [Fact]
    public void Two_rules_with_the_same_key_keep_counting_apart()
    {
        var first = RateLimitTable.Build([Rule("a", 5), Rule("a", 5)], previous: null, _time)!;
        var second = RateLimitTable.Build([Rule("a", 5), Rule("a", 5)], first, _time)!;

        first.Rules[0].Limiter.ShouldNotBeSameAs(first.Rules[1].Limiter);
        second.Rules[0].Limiter.ShouldBeSameAs(first.Rules[0].Limiter);
        second.Rules[1].Limiter.ShouldBeSameAs(first.Rules[1].Limiter);
    }

    [Fact]
    public void Per_caller_rules_count_each_identity_apart_and_unauthenticated_callers_together()
    {
        var table = RateLimitTable.Build([Rule("a", 1, perCaller: true)], previous: null, _time)!;
        var limiter = table.Rules[0].Limiter;

        limiter.AttemptAcquire("productpage").IsAcquired.ShouldBeTrue();
        limiter.AttemptAcquire("PRODUCTPAGE").IsAcquired.ShouldBeFalse(); // service names ignore case
        limiter.AttemptAcquire("ratings").IsAcquired.ShouldBeTrue();
        limiter.AttemptAcquire(null).IsAcquired.ShouldBeTrue();
        limiter.AttemptAcquire(null).IsAcquired.ShouldBeFalse();
        limiter.AttemptAcquire("unauthenticated").IsAcquired.ShouldBeTrue(); // a service of that name is not the anonymous bucket
    }

    [Fact]
    public void A_shared_rule_counts_every_caller_together()
    {
        var table = RateLimitTable.Build([Rule("a", 2)], previous: null, _time)!;
        var limiter = table.Rules[0].Limiter;

        limiter.AttemptAcquire("productpage").IsAcquired.ShouldBeTrue();
        limiter.AttemptAcquire(null).IsAcquired.ShouldBeTrue();
        limiter.AttemptAcquire("ratings").IsAcquired.ShouldBeFalse();
    }

    [Theory]
    [InlineData("/admin/x", "GET", "productpage", false, true)]
    [InlineData("/ADMIN/x", "get", "PRODUCTPAGE", false, true)]
    [InlineData("/admin/x", "POST", "productpage", false, false)]
    [InlineData("/public", "GET", "productpage", false, false)]
    [InlineData("/public", "GET", "ratings", false, false)]
    [InlineData("/admin/x", "GET", null, false, false)]
    [InlineData("/anything", "GET", "productpage", true, true)] // a path with no single reading may be any path
    [InlineData("/anything", "GET", "ratings", true, false)]
    public void A_rule_matches_as_an_authorization_rule(string path, string method, string? caller, bool ambiguous, bool matches)
    {
        var table = RateLimitTable.Build([Rule("a", 1, from: ["productpage"], paths: ["/admin/*"], methods: ["GET"])], previous: null, _time)!;

        table.Rules[0].Matches(caller, new AuthorizationTarget(path), method, ambiguous).ShouldBe(matches);
    }

    private static RateLimitRuleModel Rule(string name, int limit, string[]? from = null, string[]? paths = null, string[]? methods = null,
        bool perCaller = false) =>
        RateLimitRuleModel.Of(new RateLimitRuleOptions
        {
            Name = name,
            From = from ?? [],
            Paths = paths ?? [],
            Methods = methods ?? [],
            TokenLimit = limit,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            PerCaller = perCaller,
        });
}
