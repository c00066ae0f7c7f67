using System.Text.Json;
using Mesh.AspNetCore.Telemetry;
using Mesh.Client.Hosting;
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
    private readonly MeshServerSecurity _security;
    private readonly ILogger _logger;
    private volatile AuthorizationTable _table;

    public MeshAuthorizationMiddleware(MeshInbound inbound, MeshServerSecurity security, ILogger<MeshAuthorizationMiddleware> logger)
    {
        _security = security;
        _logger = logger;

        // Rules change with the configuration or this service's registry policy; both publish a new runtime model.
        // The table is rebuilt then, off the request path, and requests read one reference.
        _table = BuildTable(inbound.Model);
        inbound.ModelChanged += model => _table = BuildTable(model);
    }

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var peer = context.Features.Get<MeshPeerFeature>();
        if (peer is not null)
        {
            context.User = peer.CreatePrincipal();
        }

        var table = _table;
        if (table.IsEmpty)
        {
            return next(context);
        }

        var caller = peer?.Service;
        var request = context.Request;
        // Without path rules the path does not matter, but the endpoint's methods do (see EndpointRoute.IsRewritten).
        var target = new AuthorizationTarget("/", EndpointRoute.Of(context.GetEndpoint()));
        if (table.HasPathRules && !AuthorizationTarget.TryRead(context, out target))
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
            LogWouldDeny(_logger, caller ?? "an unauthenticated caller", request.Method, AccessLogText.Path(request));
            return next(context);
        }

        LogDenied(_logger, caller ?? "an unauthenticated caller", request.Method, AccessLogText.Path(request));
        return WriteDeniedAsync(context, caller);
    }

    private static AuthorizationTable BuildTable(InboundModel inbound) =>
        AuthorizationTable.Build(inbound.AuthorizationRules, inbound.AuthorizationDryRun);

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
