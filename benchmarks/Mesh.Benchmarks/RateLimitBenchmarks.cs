using BenchmarkDotNet.Attributes;
using Mesh.AspNetCore.RateLimiting;
using Mesh.AspNetCore.Security;
using Mesh.Client;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Benchmarks;

/// <summary>
/// What the inbound rate limit middleware costs a request: with no rules (baseline: one null check), with rules the
/// request does not match (their matching, path canonicalization included), and with a per-caller token bucket it
/// matches and that always has a permit (matching, the caller's partition, the limiter's lock and clock read).
/// </summary>
[MemoryDiagnoser]
public class RateLimitBenchmarks
{
    private static readonly RequestDelegate Next = static _ => Task.CompletedTask;
    private ServiceProvider _none = null!;
    private ServiceProvider _unmatched = null!;
    private ServiceProvider _matched = null!;
    private MeshRateLimitMiddleware _noRules = null!;
    private MeshRateLimitMiddleware _unmatchedRules = null!;
    private MeshRateLimitMiddleware _matchedRule = null!;
    private DefaultHttpContext _context = null!;

    [GlobalSetup]
    public void Setup()
    {
        (_none, _noRules) = Middleware(_ => { });
        (_unmatched, _unmatchedRules) = Middleware(o =>
        {
            o.RateLimits.Add(Rule("admin", ["/admin/*"]));
            o.RateLimits.Add(Rule("config", ["/config"]));
        });
        (_matched, _matchedRule) = Middleware(o => o.RateLimits.Add(Rule("reviews", ["/api/reviews/*"])));
        _context = new DefaultHttpContext();
        _context.Features.Set(new MeshPeerFeature("productpage", "spiffe://mesh.local/svc/productpage"));
        _context.Request.Method = "GET";
        _context.Request.Path = "/api/reviews/12345/comments";
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _none.Dispose();
        _unmatched.Dispose();
        _matched.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task NoRules() => _noRules.InvokeAsync(_context, Next);

    [Benchmark]
    public Task RulesNotMatched() => _unmatchedRules.InvokeAsync(_context, Next);

    [Benchmark]
    public Task PerCallerBucketMatched() => _matchedRule.InvokeAsync(_context, Next);

    /// <summary>A per-caller bucket that never runs dry in a benchmark: a million tokens back every millisecond.</summary>
    private static RateLimitRuleOptions Rule(string name, string[] paths) => new()
    {
        Name = name,
        Paths = paths,
        TokenLimit = 1_000_000,
        TokensPerPeriod = 1_000_000,
        ReplenishmentPeriod = TimeSpan.FromMilliseconds(1),
        PerCaller = true,
    };

    private static (ServiceProvider, MeshRateLimitMiddleware) Middleware(Action<MeshOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMesh(o =>
        {
            o.Service.Name = "reviews";
            configure(o);
        });
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<MeshRateLimitMiddleware>());
    }
}
