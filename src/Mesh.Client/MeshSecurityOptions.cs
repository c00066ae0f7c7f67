namespace Mesh.Client;

/// <summary>Transport security settings.</summary>
public sealed class MeshSecurityOptions
{
    /// <summary>The security mode; <see cref="MeshSecurityMode.Permissive"/> by default.</summary>
    public MeshSecurityMode Mode { get; set; } = MeshSecurityMode.Permissive;

    /// <summary>The SPIFFE trust domain: identities are <c>spiffe://&lt;trust domain&gt;/svc/&lt;service&gt;</c>.</summary>
    public string TrustDomain { get; set; } = "mesh.local";

    /// <summary>When true, inbound authorization logs and counts what it would deny, and lets it through.</summary>
    public bool AuthorizationDryRun { get; set; }
}
