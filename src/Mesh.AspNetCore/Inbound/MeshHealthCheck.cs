using Mesh.Client;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Inbound;

/// <summary>
/// Healthy when the mesh runtime is up; reports which services it knows and how many endpoints each has. Unhealthy
/// while the app drains before a graceful stop, so that load balancers probing <c>/healthz</c> stop sending new work
/// as the registry's watchers do.
/// </summary>
internal sealed class MeshHealthCheck(IMeshStatus status, IOptions<MeshOptions> options, MeshDrainState drain) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var services = status.Services;
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, service) in services)
        {
            data[name] = service.Endpoints;
        }

        if (options.Value.Registry.Url is not null || options.Value.Registry.Urls.Count > 0)
        {
            // Routing on the last known state is what the mesh is built to do, so a lost registry is not unhealthy;
            // the data says how stale the state is.
            data["registry_connected"] = status.RegistryConnected;
            data["snapshot_age_seconds"] = status.RegistrySnapshotAge is { } age ? Math.Round(age.TotalSeconds, 1) : -1;
        }

        if (drain.Draining)
        {
            data["draining"] = true;
            return Task.FromResult(HealthCheckResult.Unhealthy("draining: deregistered, stopping after the drain delay", data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy($"{services.Count} mesh service(s)", data));
    }
}
