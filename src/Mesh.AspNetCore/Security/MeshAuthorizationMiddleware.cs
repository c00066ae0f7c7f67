using System.Text.Json;
using Mesh.Client;
using Mesh.Client.Discovery;
using Mesh.Client.Runtime;
using Mesh.Client.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// Inbound identity and authorization. The peer's mesh identity (proved in the TLS handshake) becomes
/// <c>HttpContext.User</c>, a principal authenticated as <see cref="MeshClaims.AuthenticationType"/>. Then the rules of
/// <c>Mesh:Authorization</c> and of this service's registry policy apply, Istio's way: any matching DENY rule denies;
/// then, if there are ALLOW rules, one must match; with no ALLOW rule every authenticated caller is allowed. With no
/// rules at all nothing is enforced (a Permissive mesh keeps serving plaintext callers). A denial is a 403 problem,
/// counted on <c>mesh.authz.denied</c>; in dry run it is logged and counted and the request goes on.
/// </summary>
internal sealed partial class MeshAuthorizationMiddleware : IMiddleware
{
    private readonly MeshRuntime _runtime;
    private readonly IPolicySource[] _policySources;
    private readonly MeshSecurity _security;
    private readonly ILogger _logger;
    private volatile AuthorizationTable _table;

    public MeshAuthorizationMiddleware(MeshRuntime runtime, IEnumerable<IPolicySource> policySources, MeshSecurity security,
        ILogger<MeshAuthorizationMiddleware> logger)
    {
        _runtime = runtime;
        _policySources = [.. policySources];
        _security = security;
        _logger = logger;

        // Rules change with the configuration or this service's registry policy; both publish a new runtime snapshot.
        // The table is rebuilt then, off the request path, and requests read one reference.
        _table = BuildTable(runtime.Snapshot.Options);
        runtime.SnapshotChanged += snapshot => _table = BuildTable(snapshot.Options);
    }

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var peer = context.Features.Get<MeshPeerFeature>();
        if (peer is not null)
        {
            context.User = peer.Principal;
        }

        var table = _table;
        if (table.IsEmpty)
        {
            return next(context);
        }

        var caller = peer?.Service;
        var request = context.Request;
        if (table.IsAllowed(caller, request.Path.Value ?? "/", request.Method))
        {
            return next(context);
        }

        _security.RecordDenied(caller ?? "unauthenticated", table.DryRun);
        if (table.DryRun)
        {
            LogWouldDeny(_logger, caller ?? "an unauthenticated caller", request.Method, request.Path.Value ?? "/");
            return next(context);
        }

        LogDenied(_logger, caller ?? "an unauthenticated caller", request.Method, request.Path.Value ?? "/");
        return WriteDeniedAsync(context, caller);
    }

    /// <summary>Local rules, plus this service's own policy's: from the registry when it has one, else from configuration.</summary>
    private AuthorizationTable BuildTable(MeshOptions options)
    {
        IList<AuthorizationRuleOptions>? policy = null;
        if (options.Service.Name is { } self)
        {
            foreach (var source in _policySources)
            {
                if (source.TryGetPolicy(self, out var fromSource))
                {
                    policy = fromSource.Authorization;
                    break;
                }
            }

            if (policy is null && options.Services.TryGetValue(self, out var local))
            {
                policy = local.Authorization;
            }
        }

        return AuthorizationTable.Build(options.Authorization, policy, options.Security.AuthorizationDryRun);
    }

    private static async Task WriteDeniedAsync(HttpContext context, string? caller)
    {
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        context.Response.ContentType = "application/problem+json";
        var problem = new Dictionary<string, object?>
        {
            ["type"] = "https://tools.ietf.org/html/rfc9110#section-15.5.4",
            ["title"] = "Forbidden",
            ["status"] = 403,
            ["detail"] = $"The mesh authorization policy does not allow {(caller is null ? "an unauthenticated caller" : $"service '{caller}'")} to {context.Request.Method} {context.Request.Path}.",
        };
        await context.Response.WriteAsync(JsonSerializer.Serialize(problem, AuthorizationJson.Options));
    }

    [LoggerMessage(90, LogLevel.Information, "Mesh authorization denied {Caller}: {Method} {Path}")]
    private static partial void LogDenied(ILogger logger, string caller, string method, string path);

    [LoggerMessage(91, LogLevel.Warning, "Mesh authorization dry run: would deny {Caller}: {Method} {Path}")]
    private static partial void LogWouldDeny(ILogger logger, string caller, string method, string path);
}

internal static class AuthorizationJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };
}

/// <summary>Authorization rules compiled for matching without allocation: arrays, ordinal comparisons, no LINQ.</summary>
internal sealed class AuthorizationTable
{
    private readonly Rule[] _deny;
    private readonly Rule[] _allow;

    private AuthorizationTable(Rule[] deny, Rule[] allow, bool dryRun)
    {
        _deny = deny;
        _allow = allow;
        DryRun = dryRun;
    }

    public bool DryRun { get; }

    public bool IsEmpty => _deny.Length == 0 && _allow.Length == 0;

    public static AuthorizationTable Build(IList<AuthorizationRuleOptions> local, IList<AuthorizationRuleOptions>? policy, bool dryRun)
    {
        var deny = new List<Rule>();
        var allow = new List<Rule>();
        foreach (var list in new[] { local, policy })
        {
            if (list is null)
            {
                continue;
            }

            foreach (var rule in list)
            {
                (rule.Action == AuthorizationAction.Deny ? deny : allow).Add(Rule.From(rule));
            }
        }

        return new AuthorizationTable([.. deny], [.. allow], dryRun);
    }

    public bool IsAllowed(string? caller, string path, string method)
    {
        foreach (var rule in _deny)
        {
            if (rule.Matches(caller, path, method))
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
            if (rule.Matches(caller, path, method))
            {
                return true;
            }
        }

        return false;
    }

    private sealed class Rule
    {
        private string[] _from = [];
        private bool _anyAuthenticated;
        private string[] _exact = [];
        private string[] _prefixes = [];
        private string[] _methods = [];

        public static Rule From(AuthorizationRuleOptions options)
        {
            var rule = new Rule();
            var from = new List<string>();
            foreach (var f in options.From)
            {
                if (f == "*")
                {
                    rule._anyAuthenticated = true;
                }
                else
                {
                    from.Add(f.ToLowerInvariant());
                }
            }

            var exact = new List<string>();
            var prefixes = new List<string>();
            foreach (var p in options.Paths)
            {
                if (p.EndsWith("/*", StringComparison.Ordinal))
                {
                    prefixes.Add(p[..^1]); // "/x/*" matches everything under "/x/"
                }
                else if (p == "*")
                {
                    prefixes.Add("/");
                }
                else
                {
                    exact.Add(p);
                }
            }

            rule._from = [.. from];
            rule._exact = [.. exact];
            rule._prefixes = [.. prefixes];
            rule._methods = [.. options.Methods];
            return rule;
        }

        public bool Matches(string? caller, string path, string method) => MatchesFrom(caller) && MatchesPath(path) && MatchesMethod(method);

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

        private bool MatchesPath(string path)
        {
            if (_exact.Length == 0 && _prefixes.Length == 0)
            {
                return true;
            }

            foreach (var e in _exact)
            {
                if (string.Equals(e, path, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            foreach (var p in _prefixes)
            {
                if (path.StartsWith(p, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }

        private bool MatchesMethod(string method)
        {
            if (_methods.Length == 0)
            {
                return true;
            }

            foreach (var m in _methods)
            {
                if (string.Equals(m, method, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
