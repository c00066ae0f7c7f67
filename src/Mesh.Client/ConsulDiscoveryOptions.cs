namespace Mesh.Client;

/// <summary>
/// The <c>Mesh:Discovery:Consul</c> section: services that live in a Consul catalog. The mesh watches the catalog's
/// service names and each service's passing instances (<c>/v1/health/service/{name}?passing</c>) with blocking
/// queries. The registry comes first for a service it knows, then Consul, then <c>Mesh:Services:&lt;name&gt;:Endpoints</c>.
/// </summary>
public sealed class ConsulDiscoveryOptions
{
    /// <summary>The Consul HTTP API, e.g. <c>http://127.0.0.1:8500</c> (a local agent); off when not set.</summary>
    public Uri? Address { get; set; }

    /// <summary>The ACL token, sent as <c>X-Consul-Token</c>; none when not set.</summary>
    public string? Token { get; set; }

    /// <summary>The datacenter to read (<c>dc</c>); the agent's own when not set.</summary>
    public string? Datacenter { get; set; }
}
