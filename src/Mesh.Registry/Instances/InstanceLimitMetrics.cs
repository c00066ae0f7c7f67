using System.Diagnostics.Metrics;

namespace Mesh.Registry.Instances;

/// <summary>
/// Registrations refused by <see cref="RegistryOptions.MaxInstancesPerService"/>, by service: an operator sees a
/// service at its limit (a deployment larger than the limit, or a workload registering ids in a loop) without the
/// registry writing a log line per refused request.
/// </summary>
internal sealed class InstanceLimitMetrics
{
    private readonly Counter<long> _refused;

    public InstanceLimitMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(RegistryMeter.Name);
        _refused = meter.CreateCounter<long>("mesh.registry.instances.refused", "{registration}",
            "New instance ids refused because their service had MeshRegistry:MaxInstancesPerService instances.");
    }

    /// <summary>A new id of <paramref name="service"/> (a known, lower-case name) was refused.</summary>
    public void Refused(string service) => _refused.Add(1, new KeyValuePair<string, object?>("service", service));
}
