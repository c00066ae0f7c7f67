using Microsoft.Extensions.Primitives;

namespace Mesh.Client.Discovery;

/// <summary>
/// Where policies come from besides configuration: a source's policy for a service replaces the local
/// <c>Mesh:Services:&lt;name&gt;</c> policy (its endpoints stay the local ones unless a source discovers others).
/// </summary>
internal interface IPolicySource
{
    /// <summary>The policy for a service, or false when this source has none.</summary>
    bool TryGetPolicy(string service, out ServicePolicyOptions policy);

    IChangeToken GetChangeToken();
}
