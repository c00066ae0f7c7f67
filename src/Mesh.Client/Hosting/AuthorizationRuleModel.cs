using System.Collections.Immutable;

namespace Mesh.Client.Hosting;

/// <summary>One authorization rule in force: an immutable copy of an <see cref="AuthorizationRuleOptions"/>. A hosting seam.</summary>
public sealed class AuthorizationRuleModel
{
    private AuthorizationRuleModel(AuthorizationAction action, ImmutableArray<string> from, ImmutableArray<string> paths,
        ImmutableArray<string> methods)
    {
        Action = action;
        From = from;
        Paths = paths;
        Methods = methods;
    }

    /// <summary>Whether a match allows or denies.</summary>
    public AuthorizationAction Action { get; }

    /// <summary>The caller services the rule names; <c>*</c> is any authenticated caller.</summary>
    public ImmutableArray<string> From { get; }

    /// <summary>Exact paths, or prefixes ending in <c>/*</c>; empty matches every path.</summary>
    public ImmutableArray<string> Paths { get; }

    /// <summary>HTTP methods; empty matches every method.</summary>
    public ImmutableArray<string> Methods { get; }

    internal static AuthorizationRuleModel Of(AuthorizationRuleOptions options) =>
        new(options.Action, [.. options.From], [.. options.Paths], [.. options.Methods]);
}
