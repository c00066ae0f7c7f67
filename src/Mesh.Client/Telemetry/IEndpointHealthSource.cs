using Mesh.Client.LoadBalancing;

namespace Mesh.Client.Telemetry;

/// <summary>
/// What the health gauges read when a collector asks: the endpoints of every service the mesh routes to now. The
/// runtime implements it, so telemetry does not depend on the runtime that depends on telemetry.
/// </summary>
internal interface IEndpointHealthSource
{
    TimeProvider TimeProvider { get; }

    /// <summary>Each destination service with the endpoints of its current model.</summary>
    IEnumerable<KeyValuePair<string, EndpointState[]>> EndpointsByService();
}
