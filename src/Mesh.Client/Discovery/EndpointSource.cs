using Microsoft.Extensions.Primitives;

namespace Mesh.Client.Discovery;

/// <summary>An endpoint as a discovery source reports it.</summary>
internal sealed record DiscoveredEndpoint(Uri Address, IReadOnlyDictionary<string, string> Labels, string? Zone);

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

/// <summary>
/// Endpoints written in <c>Mesh:Services:&lt;name&gt;:Endpoints</c>. Built from each accepted configuration, so a
/// rejected reload never reaches it.
/// </summary>
internal sealed class ConfigurationEndpointSource : IEndpointSource
{
    public const int DefaultPriority = 1000;
    private readonly Dictionary<string, IReadOnlyList<DiscoveredEndpoint>> _endpoints = new(StringComparer.OrdinalIgnoreCase);

    public ConfigurationEndpointSource(MeshOptions options)
    {
        foreach (var (service, policy) in options.Services)
        {
            var list = new List<DiscoveredEndpoint>(policy.Endpoints.Count);
            foreach (var e in policy.Endpoints)
            {
                if (e.Address is not null)
                {
                    list.Add(new DiscoveredEndpoint(e.Address, new Dictionary<string, string>(e.Labels, StringComparer.OrdinalIgnoreCase), e.Zone));
                }
            }

            if (list.Count > 0)
            {
                _endpoints[service] = list;
            }
        }
    }

    public int Priority => DefaultPriority;

    public IReadOnlyCollection<string> Services => _endpoints.Keys;

    public bool TryGetEndpoints(string service, out IReadOnlyList<DiscoveredEndpoint> endpoints) =>
        _endpoints.TryGetValue(service, out endpoints!);

    // Configuration changes arrive through the options reload, which builds a new source.
    public IChangeToken GetChangeToken() => NeverChanges;

    private static readonly IChangeToken NeverChanges = new CancellationChangeToken(CancellationToken.None);
}
