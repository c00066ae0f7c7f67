using Mesh.Client;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Inbound;

/// <summary>Healthy when the mesh runtime is up; reports which services it knows and how many endpoints each has.</summary>
internal sealed class MeshHealthCheck(IMeshStatus status, IOptions<MeshOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var services = status.Services;
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, service) in services)
        {
            data[name] = service.Endpoints;
        }

        if (options.Value.Registry.Url is not null)
        {
            // Routing on the last known state is what the mesh is built to do, so a lost registry is not unhealthy;
            // the data says how stale the state is.
            data["registry_connected"] = status.RegistryConnected;
            data["snapshot_age_seconds"] = status.RegistrySnapshotAge is { } age ? Math.Round(age.TotalSeconds, 1) : -1;
        }

        return Task.FromResult(HealthCheckResult.Healthy($"{services.Count} mesh service(s)", data));
    }
}
