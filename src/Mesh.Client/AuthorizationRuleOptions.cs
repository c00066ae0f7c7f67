namespace Mesh.Client;

/// <summary>One inbound authorization rule.</summary>
public sealed class AuthorizationRuleOptions
{
    /// <summary>Allow or Deny.</summary>
    public AuthorizationAction Action { get; set; } = AuthorizationAction.Allow;

    /// <summary>Calling service names, or <c>*</c>. Empty matches every caller.</summary>
    public IList<string> From { get; set; } = new List<string>();

    /// <summary>Paths, exact or as a prefix written <c>/x/*</c>. Empty matches every path.</summary>
    public IList<string> Paths { get; set; } = new List<string>();

    /// <summary>HTTP methods. Empty matches every method.</summary>
    public IList<string> Methods { get; set; } = new List<string>();
}
