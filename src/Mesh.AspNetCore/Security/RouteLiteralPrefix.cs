using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// The literal start of the route an endpoint was matched by: <c>/admin/{id}</c> gives <c>/admin</c> with more
/// segments after it, <c>/config</c> gives <c>/config</c> and nothing after. Whatever spelling of the path the router
/// accepted, a request routed to that endpoint has this path, so a DENY rule that covers it covers the endpoint, even
/// if the request's path were read differently from the router. Computed once per endpoint.
/// </summary>
internal sealed class RouteLiteralPrefix
{
    private static readonly ConditionalWeakTable<Endpoint, RouteLiteralPrefix> Cache = [];

    private RouteLiteralPrefix(string path, bool hasMore)
    {
        Path = path;
        HasMore = hasMore;
    }

    /// <summary>The literal segments before the first parameter, as a canonical path ("/" when there are none).</summary>
    public string Path { get; }

    /// <summary>Whether the route has segments after <see cref="Path"/> (parameters, or literals after a parameter).</summary>
    public bool HasMore { get; }

    /// <summary>The prefix of a route endpoint's pattern; null for another kind of endpoint or none.</summary>
    public static RouteLiteralPrefix? Of(Endpoint? endpoint) =>
        endpoint is RouteEndpoint route ? Cache.GetValue(route, static e => Create(((RouteEndpoint)e).RoutePattern)) : null;

    private static RouteLiteralPrefix Create(RoutePattern pattern)
    {
        var builder = new System.Text.StringBuilder();
        var segments = pattern.PathSegments;
        var literal = 0;
        while (literal < segments.Count && segments[literal].IsSimple && segments[literal].Parts[0] is RoutePatternLiteralPart part)
        {
            builder.Append('/').Append(part.Content);
            literal++;
        }

        var path = builder.Length == 0 ? "/" : builder.ToString();
        return new RouteLiteralPrefix(path, literal < segments.Count);
    }
}
