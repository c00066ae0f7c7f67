using Mesh.Client;
using Mesh.Client.Hosting;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// The authorization rules in force, Istio's way: any matching DENY rule denies; then, if there are ALLOW rules, one
/// must match; with no ALLOW rule every authenticated caller is allowed. Built off the request path when rules change;
/// matching reads arrays, compares without allocating and takes no lock.
/// </summary>
internal sealed class AuthorizationTable
{
    private readonly AuthorizationRule[] _deny;
    private readonly AuthorizationRule[] _allow;

    private AuthorizationTable(AuthorizationRule[] deny, AuthorizationRule[] allow, bool dryRun)
    {
        _deny = deny;
        _allow = allow;
        DryRun = dryRun;
        foreach (var rule in deny)
        {
            HasPathRules |= rule.HasPaths;
        }

        foreach (var rule in allow)
        {
            HasPathRules |= rule.HasPaths;
        }
    }

    public bool DryRun { get; }

    public bool IsEmpty => _deny.Length == 0 && _allow.Length == 0;

    /// <summary>Whether any rule names paths: only then does the request path matter, and an ambiguous one refused.</summary>
    public bool HasPathRules { get; }

    public static AuthorizationTable Build(IEnumerable<AuthorizationRuleModel> rules, bool dryRun)
    {
        var deny = new List<AuthorizationRule>();
        var allow = new List<AuthorizationRule>();
        foreach (var rule in rules)
        {
            (rule.Action == AuthorizationAction.Deny ? deny : allow).Add(AuthorizationRule.From(rule));
        }

        return new AuthorizationTable([.. deny], [.. allow], dryRun);
    }

    /// <summary>
    /// Whether <paramref name="caller"/> (null: unauthenticated) may send <paramref name="method"/> to
    /// <paramref name="target"/>.
    /// </summary>
    public bool IsAllowed(string? caller, in AuthorizationTarget target, string method)
    {
        foreach (var rule in _deny)
        {
            if (rule.Matches(caller, target, method, deny: true))
            {
                return false;
            }
        }

        if (_allow.Length == 0)
        {
            return caller is not null; // no ALLOW rule: every authenticated caller
        }

        foreach (var rule in _allow)
        {
            if (rule.Matches(caller, target, method, deny: false))
            {
                return true;
            }
        }

        return false;
    }
}
