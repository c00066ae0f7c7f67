using BenchmarkDotNet.Attributes;
using Mesh.AspNetCore.Security;
using Mesh.Client;
using Mesh.Client.Hosting;

namespace Mesh.Benchmarks;

/// <summary>
/// What inbound authorization costs per request once paths are canonicalized: the table of a typical deny list, a
/// path that is already canonical (the common case: a scan, no copy) and one that must be rewritten (dot segments,
/// duplicate and trailing slashes). The baseline matches the canonical path without canonicalizing it, so the ratio
/// is the price of reading paths the way the router does.
/// </summary>
[MemoryDiagnoser]
public class AuthorizationBenchmarks
{
    private const string CanonicalPath = "/api/reviews/12345/comments";
    private const string RewrittenPath = "/api/./reviews//12345/x/../comments/";

    private readonly AuthorizationTable _table = Table(
    [
        new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, From = ["*"] },
        new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/admin/*", "/config"] },
        new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/api/*"], Methods = ["DELETE"] },
    ], dryRun: false);

    [Benchmark(Baseline = true)]
    public bool MatchOnly() => _table.IsAllowed("productpage", new AuthorizationTarget(CanonicalPath), "GET");

    [Benchmark]
    public bool CanonicalPathChecked() =>
        AuthorizationPath.TryCanonicalize(CanonicalPath, out var path) && _table.IsAllowed("productpage", new AuthorizationTarget(path), "GET");

    [Benchmark]
    public bool PathRewritten() =>
        AuthorizationPath.TryCanonicalize(RewrittenPath, out var path) && _table.IsAllowed("productpage", new AuthorizationTarget(path), "GET");

    private static AuthorizationTable Table(AuthorizationRuleOptions[] rules, bool dryRun) =>
        AuthorizationTable.Build(rules.Select(AuthorizationRuleModel.Of), dryRun);
}
