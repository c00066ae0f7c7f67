namespace Mesh.Client;

/// <summary>Whether an authorization rule allows or denies what it matches.</summary>
public enum AuthorizationAction
{
    /// <summary>Allow matching requests.</summary>
    Allow,

    /// <summary>Deny matching requests; evaluated before every ALLOW rule.</summary>
    Deny,
}
