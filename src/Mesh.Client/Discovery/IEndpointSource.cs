using Microsoft.Extensions.Primitives;

namespace Mesh.Client.Discovery;

/// <summary>
/// Where endpoints come from. The mesh asks its sources in <see cref="Priority"/> order and uses the first that knows
/// a service's endpoints, so a registry source (low number) wins over configuration and configuration still serves
/// when the registry knows nothing of a service.
/// </summary>
internal interface IEndpointSource
{
    /// <summary>Lower is asked first.</summary>
    int Priority { get; }

    /// <summary>The services this source knows, so that services only it knows become mesh services too.</summary>
    IReadOnlyCollection<string> Services { get; }

    /// <summary>The endpoints of a service, or false when this source knows none.</summary>
    bool TryGetEndpoints(string service, out IReadOnlyList<DiscoveredEndpoint> endpoints);

    /// <summary>Fires when anything this source reports changed.</summary>
    IChangeToken GetChangeToken();
}
