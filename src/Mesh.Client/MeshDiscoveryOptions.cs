namespace Mesh.Client;

/// <summary>The <c>Mesh:Discovery</c> section: endpoint sources besides the registry and configuration.</summary>
public sealed class MeshDiscoveryOptions
{
    /// <summary>A Consul catalog to read endpoints from; off unless <see cref="ConsulDiscoveryOptions.Address"/> is set.</summary>
    public ConsulDiscoveryOptions Consul { get; set; } = new();
}
