using System.Security.Claims;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// The mesh identity a connection's peer proved with its client certificate: its service (from the SPIFFE ID) and its
/// version (from the certificate's subject, null when the certificate carries none). Nothing here comes from a header.
/// </summary>
internal sealed class MeshPeerFeature(string service, string spiffeId, string? version = null)
{
    public string Service { get; } = service;

    public string SpiffeId { get; } = spiffeId;

    /// <summary>The version the certificate proves; null when it carries none.</summary>
    public string? Version { get; } = version;

    /// <summary>
    /// A principal for one request, authenticated as <see cref="MeshClaims.AuthenticationType"/>. New for every request:
    /// apps add to <c>HttpContext.User</c> (an end user's identity, roles), and a principal shared by the connection
    /// would carry what one request added into every later request on it, and into concurrent HTTP/2 streams.
    /// </summary>
    public ClaimsPrincipal CreatePrincipal()
    {
        List<Claim> claims =
        [
            new(MeshClaims.SpiffeId, SpiffeId),
            new(MeshClaims.Service, Service),
            new(ClaimTypes.Name, Service),
        ];
        if (Version is not null)
        {
            claims.Add(new Claim(MeshClaims.Version, Version));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, MeshClaims.AuthenticationType, ClaimTypes.Name, null));
    }
}
