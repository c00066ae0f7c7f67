using System.Security.Claims;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// The mesh identity a connection's peer proved with its client certificate: its service (from the SPIFFE ID) and its
/// version (from the certificate's subject, null when the certificate carries none). Nothing here comes from a header.
/// </summary>
internal sealed class MeshPeerFeature
{
    public MeshPeerFeature(string service, string spiffeId, string? version = null)
    {
        Service = service;
        SpiffeId = spiffeId;
        Version = version;
        List<Claim> claims =
        [
            new(MeshClaims.SpiffeId, spiffeId),
            new(MeshClaims.Service, service),
            new(ClaimTypes.Name, service),
        ];
        if (version is not null)
        {
            claims.Add(new Claim(MeshClaims.Version, version));
        }

        Principal = new ClaimsPrincipal(new ClaimsIdentity(claims, MeshClaims.AuthenticationType, ClaimTypes.Name, null));
    }

    public string Service { get; }

    public string SpiffeId { get; }

    /// <summary>The version the certificate proves; null when it carries none.</summary>
    public string? Version { get; }

    /// <summary>One principal per connection: every request on it has the same proven caller.</summary>
    public ClaimsPrincipal Principal { get; }
}
