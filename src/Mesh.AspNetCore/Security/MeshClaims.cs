namespace Mesh.AspNetCore.Security;

/// <summary>
/// How a mesh caller's identity appears on <c>HttpContext.User</c>: the inbound security middleware sets a principal
/// authenticated as <see cref="AuthenticationType"/> when the peer presented a mesh certificate, and inbound telemetry
/// and authorization read the caller's service from it. One definition, so the readers cannot drift from the writer.
/// </summary>
internal static class MeshClaims
{
    /// <summary>The authentication type of a principal proven by a mesh mTLS client certificate.</summary>
    public const string AuthenticationType = "MeshMutualTls";

    /// <summary>The caller's SPIFFE ID, <c>spiffe://&lt;trust domain&gt;/svc/&lt;service&gt;</c>.</summary>
    public const string SpiffeId = "mesh:spiffe_id";

    /// <summary>The caller's service name, the last segment of its SPIFFE ID.</summary>
    public const string Service = "mesh:service";

    /// <summary>
    /// The caller's version, as its certificate proves it (the registry's CA writes it where the caller's join token
    /// allows it); absent when the certificate carries none.
    /// </summary>
    public const string Version = "mesh:version";
}
