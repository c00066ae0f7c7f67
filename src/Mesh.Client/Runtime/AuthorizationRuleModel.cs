using System.Collections.Immutable;

namespace Mesh.Client.Runtime;

/// <summary>One authorization rule of the model: an immutable copy of an <see cref="AuthorizationRuleOptions"/>.</summary>
internal sealed class AuthorizationRuleModel
{
    private AuthorizationRuleModel(AuthorizationAction action, ImmutableArray<string> from, ImmutableArray<string> paths,
        ImmutableArray<string> methods)
    {
        Action = action;
        From = from;
        Paths = paths;
        Methods = methods;
    }

    public AuthorizationAction Action { get; }

    /// <summary>The caller services the rule names; <c>*</c> is any authenticated caller.</summary>
    public ImmutableArray<string> From { get; }

    /// <summary>Exact paths, or prefixes ending in <c>/*</c>; empty matches every path.</summary>
    public ImmutableArray<string> Paths { get; }

    /// <summary>HTTP methods; empty matches every method.</summary>
    public ImmutableArray<string> Methods { get; }

    public static AuthorizationRuleModel Of(AuthorizationRuleOptions options) =>
        new(options.Action, [.. options.From], [.. options.Paths], [.. options.Methods]);
}
