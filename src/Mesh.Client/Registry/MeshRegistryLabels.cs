namespace Mesh.Client.Registry;

/// <summary>Instance labels the mesh itself sets on a registration and the registry reads.</summary>
public static class MeshRegistryLabels
{
    /// <summary>
    /// The URL (<c>http://host:port</c>) of the instance's metrics listener (<c>Mesh:Telemetry:MetricsListener</c>):
    /// where Prometheus discovery (<c>GET /v1/prometheus/targets</c>) tells Prometheus to scrape it.
    /// </summary>
    public const string MetricsAddress = "mesh/metrics-address";
}
