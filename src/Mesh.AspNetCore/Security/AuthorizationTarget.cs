using Microsoft.AspNetCore.Http;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// The spellings of one request's target that authorization rules are tried against, each canonical
/// (<see cref="AuthorizationPath"/>). <see cref="Path"/> is what the router routes (after <c>UsePathBase</c>), and the
/// only spelling ALLOW rules read. DENY rules are also tried with the path base in front (<see cref="FullPath"/> and
/// the like), so a DENY rule written with the base holds for requests that carry it, and against the endpoint routing
/// chose (<see cref="Route"/>, and <see cref="RoutedPath"/> for a route with defaults): those can add a denial, never
/// an allowance, since routing does not route the base and a caller can set it (<c>X-Forwarded-Prefix</c>).
/// </summary>
internal readonly record struct AuthorizationTarget(string Path, EndpointRoute? Route = null, string? RoutedPath = null)
{
    /// <summary><see cref="Path"/> with the path base in front; null without a base.</summary>
    public string? FullPath { get; private init; }

    /// <summary>The route's literal start with the path base in front; null without a base or a route.</summary>
    public string? FullRouteLiteral { get; private init; }

    /// <summary><see cref="RoutedPath"/> with the path base in front; null without either.</summary>
    public string? FullRoutedPath { get; private init; }

    /// <summary>The spellings of a request whose canonical path base is <paramref name="pathBase"/> (null: none).</summary>
    public static AuthorizationTarget Create(string path, string? pathBase, EndpointRoute? route, string? routed) =>
        pathBase is null
            ? new AuthorizationTarget(path, route, routed)
            : new AuthorizationTarget(path, route, routed)
            {
                FullPath = Join(pathBase, path),
                FullRouteLiteral = route is null ? null : Join(pathBase, route.LiteralPath),
                FullRoutedPath = routed is null ? null : Join(pathBase, routed),
            };

    /// <summary>
    /// The request's target in the spellings rules are tried against; false when the path has no single reading.
    /// <c>Request.Path</c> is what routing routes; a path base is tried in front of it too, and a route whose
    /// parameters have defaults adds the path its endpoint serves.
    /// </summary>
    public static bool TryRead(HttpContext context, out AuthorizationTarget target)
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
        target = Create(path, pathBase, route, routed);
        return true;
    }

    private static string Join(string pathBase, string path) => path == "/" ? pathBase : pathBase + path;
}
