using Mesh.Client;
using Mesh.Client.Registry;
using Mesh.Client.Runtime;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mesh.AspNetCore.Inbound;

/// <summary>Healthy when the mesh runtime is up; reports which services it knows and how many endpoints each has.</summary>
internal sealed class MeshHealthCheck(MeshRuntime runtime, RegistryDiscoverySource registry, IOptions<MeshOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = runtime.Snapshot;
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, service) in snapshot.Services)
        {
            data[name] = service.Endpoints.Length;
        }

        if (options.Value.Registry.Url is not null)
        {
            // Routing on the last known state is what the mesh is built to do, so a lost registry is not unhealthy;
            // the data says how stale the state is.
            data["registry_connected"] = registry.IsConnected;
            data["snapshot_age_seconds"] = registry.SnapshotAge == Timeout.InfiniteTimeSpan ? -1 : Math.Round(registry.SnapshotAge.TotalSeconds, 1);
        }

        return Task.FromResult(HealthCheckResult.Healthy($"{snapshot.Services.Count} mesh service(s)", data));
    }
}
