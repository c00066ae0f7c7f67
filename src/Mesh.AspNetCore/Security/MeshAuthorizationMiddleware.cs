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

        // Rules change with the configuration or this service's registry policy; both publish a new runtime model.
        // The table is rebuilt then, off the request path, and requests read one reference.
        _table = BuildTable(runtime.Model.Options);
        runtime.ModelChanged += model => _table = BuildTable(model.Options);
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
        var target = new AuthorizationTarget("/");
        if (table.HasPathRules && !TryReadTarget(context, out target))
        {
            return RefuseAmbiguous(context, next, table, caller);
        }

        if (table.IsAllowed(caller, target, request.Method))
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

    /// <summary>
    /// The request's target in the spellings rules are tried against; false when the path has no single reading.
    /// <c>Request.Path</c> is what routing routes; a path base is tried in front of it too, and a route whose
    /// parameters have defaults adds the path its endpoint serves.
    /// </summary>
    private static bool TryReadTarget(HttpContext context, out AuthorizationTarget target)
    {
        target = default;
        var request = context.Request;
        if (!AuthorizationPath.TryCanonicalize(request.Path.Value ?? "/", out var path))
        {
            return false;
        }

        string? pathBase = null;
        if (request.PathBase.HasValue && (!AuthorizationPath.TryCanonicalize(request.PathBase.Value!, out pathBase) || pathBase == "/"))
        {
            if (pathBase is null)
            {
                return false;
            }

            pathBase = null;
        }

        var route = EndpointRoute.Of(context.GetEndpoint());
        var routed = route is { HasDefaults: true } ? route.RoutedPath(request.RouteValues) : null;
        target = AuthorizationTarget.Create(path, pathBase, route, routed);
        return true;
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

    /// <summary>
    /// A path with no single reading (an encoded slash, a backslash, a NUL, invalid UTF-8) is refused before any rule
    /// is tried: whichever way a rule read it, the app or a proxy behind it might read it another way.
    /// </summary>
    private Task RefuseAmbiguous(HttpContext context, RequestDelegate next, AuthorizationTable table, string? caller)
    {
        _security.RecordDenied(caller ?? "unauthenticated", table.DryRun);
        if (table.DryRun)
        {
            LogWouldRefuseAmbiguous(_logger, caller ?? "an unauthenticated caller", context.Request.Method);
            return next(context);
        }

        LogRefusedAmbiguous(_logger, caller ?? "an unauthenticated caller", context.Request.Method);
        return WriteProblemAsync(context, StatusCodes.Status400BadRequest, "https://tools.ietf.org/html/rfc9110#section-15.5.1", "Bad Request",
            "The request path has no single reading (an encoded '/' or '\\', a backslash, a control character or invalid UTF-8), so the mesh authorization policy cannot decide on it.");
    }

    private static Task WriteDeniedAsync(HttpContext context, string? caller) =>
        WriteProblemAsync(context, StatusCodes.Status403Forbidden, "https://tools.ietf.org/html/rfc9110#section-15.5.4", "Forbidden",
            $"The mesh authorization policy does not allow {(caller is null ? "an unauthenticated caller" : $"service '{caller}'")} to {context.Request.Method} {context.Request.Path}.");

    private static async Task WriteProblemAsync(HttpContext context, int status, string type, string title, string detail)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        var problem = new Dictionary<string, object?>
        {
            ["type"] = type,
            ["title"] = title,
            ["status"] = status,
            ["detail"] = detail,
        };
        await context.Response.WriteAsync(JsonSerializer.Serialize(problem, AuthorizationJson.Options));
    }

    [LoggerMessage(90, LogLevel.Information, "Mesh authorization denied {Caller}: {Method} {Path}")]
    private static partial void LogDenied(ILogger logger, string caller, string method, string path);

    [LoggerMessage(91, LogLevel.Warning, "Mesh authorization dry run: would deny {Caller}: {Method} {Path}")]
    private static partial void LogWouldDeny(ILogger logger, string caller, string method, string path);

    [LoggerMessage(92, LogLevel.Information, "Mesh authorization refused {Caller}: {Method} of a path with no single reading (400)")]
    private static partial void LogRefusedAmbiguous(ILogger logger, string caller, string method);

    [LoggerMessage(93, LogLevel.Warning, "Mesh authorization dry run: would refuse {Caller}: {Method} of a path with no single reading")]
    private static partial void LogWouldRefuseAmbiguous(ILogger logger, string caller, string method);
}
