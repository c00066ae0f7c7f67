using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// What authorization reads from the route an endpoint was matched by, computed once per endpoint. Its literal start
/// (<c>/admin/{id}</c> gives <c>/admin</c> with more segments after it, <c>/config</c> gives <c>/config</c> and nothing
/// after): whatever spelling of the path the router accepted, a request routed to that endpoint has this path, so a
/// DENY rule that covers it covers the endpoint. And, for a route whose parameters have defaults
/// (<c>/reports/{kind=summary}</c>), the path as the endpoint sees it, defaults filled in, since <c>/reports</c> serves
/// what <c>/reports/summary</c> serves.
/// </summary>
internal sealed class EndpointRoute
{
    private static readonly ConditionalWeakTable<Endpoint, EndpointRoute> Cache = [];
    private readonly RoutePattern _pattern;

    private EndpointRoute(RoutePattern pattern, string literalPath, bool hasMore, bool hasDefaults, string[] methods)
    {
        _pattern = pattern;
        LiteralPath = literalPath;
        HasMore = hasMore;
        HasDefaults = hasDefaults;
        Methods = methods;
    }

    /// <summary>The literal segments before the first parameter, as a canonical path ("/" when there are none).</summary>
    public string LiteralPath { get; }

    /// <summary>Whether the route has segments after <see cref="LiteralPath"/> (parameters, or literals after a parameter).</summary>
    public bool HasMore { get; }

    /// <summary>Whether a parameter has a default value, so a shorter path reaches what a longer one names.</summary>
    public bool HasDefaults { get; }

    /// <summary>The methods the endpoint is routed for; empty when it takes any.</summary>
    public string[] Methods { get; }

    /// <summary>
    /// Whether <paramref name="method"/> is not one routing chose the endpoint for: the request's method was rewritten
    /// after routing (<c>UseHttpMethodOverride()</c> behind a <c>WebApplication</c>'s own routing, from a header the
    /// caller writes), so the handler that runs is one of <see cref="Methods"/> whatever the method now says.
    /// </summary>
    public bool IsRewritten(string method)
    {
        if (Methods.Length == 0)
        {
            return false;
        }

        foreach (var routed in Methods)
        {
            if (string.Equals(routed, method, StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The route of a route endpoint; null for another kind of endpoint or none.</summary>
    public static EndpointRoute? Of(Endpoint? endpoint) =>
        endpoint is RouteEndpoint route ? Cache.GetValue(route, static e => Create((RouteEndpoint)e)) : null;

    /// <summary>
    /// The path the endpoint serves for this request: the pattern with the request's route values, defaults filled in,
    /// canonical; null when it cannot be read unambiguously (a default holding an escape, say).
    /// </summary>
    public string? RoutedPath(RouteValueDictionary values)
    {
        var path = new StringBuilder();
        foreach (var segment in _pattern.PathSegments)
        {
            var start = path.Length;
            path.Append('/');
            var empty = true;
            foreach (var part in segment.Parts)
            {
                var text = part switch
                {
                    RoutePatternLiteralPart literal => literal.Content,
                    RoutePatternSeparatorPart separator => separator.Content,
                    RoutePatternParameterPart parameter => Value(values, parameter),
                    _ => null,
                };
                if (!string.IsNullOrEmpty(text))
                {
                    path.Append(text);
                    empty = false;
                }
            }

            if (empty)
            {
                path.Length = start; // an optional parameter without a value: no segment
            }
        }

        return AuthorizationPath.TryCanonicalize(path.ToString(), out var canonical) ? canonical : null;
    }

    private string? Value(RouteValueDictionary values, RoutePatternParameterPart parameter)
    {
        var value = values.TryGetValue(parameter.Name, out var v) && v is not null ? v : parameter.Default ?? _pattern.Defaults.GetValueOrDefault(parameter.Name);
        return Convert.ToString(value, CultureInfo.InvariantCulture);
    }

    private static EndpointRoute Create(RouteEndpoint endpoint)
    {
        var pattern = endpoint.RoutePattern;
        var builder = new StringBuilder();
        var segments = pattern.PathSegments;
        var literal = 0;
        while (literal < segments.Count && segments[literal].IsSimple && segments[literal].Parts[0] is RoutePatternLiteralPart part)
        {
            builder.Append('/').Append(part.Content);
            literal++;
        }

        var hasDefaults = false;
        foreach (var parameter in pattern.Parameters)
        {
            hasDefaults |= parameter.Default is not null || pattern.Defaults.ContainsKey(parameter.Name);
        }

        var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [];
        return new EndpointRoute(pattern, builder.Length == 0 ? "/" : builder.ToString(), literal < segments.Count, hasDefaults, [.. methods]);
    }
}
