using Mesh.Client.Hosting;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// One <c>Mesh:Authorization</c> rule (or what a <c>Mesh:RateLimits</c> rule matches) compiled for matching without
/// allocation. Paths compare against the canonical
/// request path (<see cref="AuthorizationPath"/>) ignoring case, as routing does; methods ignoring case, as routing
/// does.
/// </summary>
internal sealed class AuthorizationRule
{
    private readonly string[] _from;
    private readonly bool _anyAuthenticated;
    private readonly string[] _exact;
    private readonly string[] _prefixes;
    private readonly string[] _methods;

    private AuthorizationRule(string[] from, bool anyAuthenticated, string[] exact, string[] prefixes, string[] methods)
    {
        _from = from;
        _anyAuthenticated = anyAuthenticated;
        _exact = exact;
        _prefixes = prefixes;
        _methods = methods;
    }

    /// <summary>Whether the rule names paths (a rule without paths matches every path).</summary>
    public bool HasPaths => _exact.Length != 0 || _prefixes.Length != 0;

    public static AuthorizationRule From(AuthorizationRuleModel options) => Create(options.From, options.Paths, options.Methods);

    /// <summary>A rule matching callers <paramref name="callers"/>, paths <paramref name="paths"/> and methods <paramref name="methods"/>.</summary>
    public static AuthorizationRule Create(IEnumerable<string> callers, IEnumerable<string> paths, IEnumerable<string> methods)
    {
        var from = new List<string>();
        var anyAuthenticated = false;
        foreach (var f in callers)
        {
            if (f == "*")
            {
                anyAuthenticated = true;
            }
            else
            {
                from.Add(f);
            }
        }

        var exact = new List<string>();
        var prefixes = new List<string>();
        foreach (var p in paths)
        {
            if (p == "*" || p == "/*")
            {
                prefixes.Add("/");
            }
            else if (p.EndsWith("/*", StringComparison.Ordinal))
            {
                // "/x/*" covers everything under "/x/". The validator accepts only canonical paths; canonicalizing
                // again keeps a rule written before that check from silently matching nothing.
                prefixes.Add(Canonical(p[..^2]) is "/" ? "/" : Canonical(p[..^2]) + "/");
            }
            else
            {
                exact.Add(Canonical(p));
            }
        }

        return new AuthorizationRule([.. from], anyAuthenticated, [.. exact], [.. prefixes], [.. methods]);
    }

    /// <summary>
    /// Whether the rule matches. A DENY rule (<paramref name="deny"/>) is also tried against the path with its base in
    /// front and the endpoint routing chose (see <see cref="EndpointRoute"/>), so whatever the path's spelling a request
    /// routed to a covered endpoint is denied; an ALLOW rule reads the path routing routes alone, so neither the
    /// endpoint nor the path base adds an allowance (a base can come from the caller: <c>X-Forwarded-Prefix</c>).
    /// </summary>
    public bool Matches(string? caller, in AuthorizationTarget target, string method, bool deny) =>
        MatchesFrom(caller) && (MatchesMethod(method, deny) || (deny && MatchesRoutedMethod(target.Route, method))) &&
        (MatchesPath(target.Path) ||
         (deny && (MatchesPath(target.FullPath) || MatchesRoute(target) || MatchesPath(target.RoutedPath) || MatchesPath(target.FullRoutedPath))));

    /// <summary>
    /// Whether the rule matches the caller and method; for a request whose path has no single reading, where any path
    /// rule may be the one it reaches.
    /// </summary>
    public bool MatchesCallerAndMethod(string? caller, string method) => MatchesFrom(caller) && MatchesMethod(method, headAsGet: true);

    private bool MatchesFrom(string? caller)
    {
        if (_from.Length == 0 && !_anyAuthenticated)
        {
            return true; // no From: every caller, authenticated or not
        }

        if (caller is null)
        {
            return false;
        }

        if (_anyAuthenticated)
        {
            return true;
        }

        foreach (var f in _from)
        {
            if (string.Equals(f, caller, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private bool MatchesPath(string? path)
    {
        if (path is null)
        {
            return false;
        }

        if (!HasPaths)
        {
            return true;
        }

        foreach (var e in _exact)
        {
            if (string.Equals(e, path, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        foreach (var p in _prefixes)
        {
            if (path.StartsWith(p, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether every path the endpoint's route can match is covered: an exact rule covers a route that is all literal
    /// and equal to it; a prefix rule <c>/x/*</c> covers a route whose literal start lies under <c>/x/</c>, or is
    /// <c>/x</c> followed by more segments.
    /// </summary>
    private bool MatchesRoute(in AuthorizationTarget target) =>
        target.Route is { } route && (MatchesRoute(route.LiteralPath, route.HasMore) ||
            (target.FullRouteLiteral is { } full && MatchesRoute(full, route.HasMore)));

    private bool MatchesRoute(string literalPath, bool hasMore)
    {
        if (!HasPaths)
        {
            return false; // a rule without paths matched on the request's path already
        }

        if (!hasMore)
        {
            foreach (var e in _exact)
            {
                if (string.Equals(e, literalPath, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        foreach (var p in _prefixes)
        {
            if (literalPath.StartsWith(p, StringComparison.OrdinalIgnoreCase) ||
                (hasMore && p.Length == literalPath.Length + 1 && p.StartsWith(literalPath, StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// For a DENY rule (or a rate limit): whether the request's method was rewritten after routing and the rule names a
    /// method routing chose the endpoint for, since that method's handler is what runs.
    /// </summary>
    private bool MatchesRoutedMethod(EndpointRoute? route, string method)
    {
        if (route is null || !route.IsRewritten(method))
        {
            return false;
        }

        foreach (var routed in route.Methods)
        {
            if (MatchesMethod(routed, headAsGet: true))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether the rule names <paramref name="method"/>. With <paramref name="headAsGet"/> (a DENY rule, or a rate
    /// limit) a rule naming GET also matches HEAD: servers answer HEAD with the GET handler (static files, Razor Pages'
    /// <c>OnGet</c>, endpoints mapped for every method), so a HEAD request would otherwise run a denied handler and
    /// read its headers. An ALLOW rule matches only the methods it names.
    /// </summary>
    private bool MatchesMethod(string method, bool headAsGet)
    {
        if (_methods.Length == 0)
        {
            return true;
        }

        var head = headAsGet && string.Equals(method, "HEAD", StringComparison.OrdinalIgnoreCase);
        foreach (var m in _methods)
        {
            if (string.Equals(m, method, StringComparison.OrdinalIgnoreCase) ||
                (head && string.Equals(m, "GET", StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    private static string Canonical(string path) => AuthorizationPath.TryCanonicalize(path, out var canonical) ? canonical : path;
}
