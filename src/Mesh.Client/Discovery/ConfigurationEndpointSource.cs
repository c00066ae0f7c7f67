using Microsoft.Extensions.Primitives;

namespace Mesh.Client.Discovery;

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
