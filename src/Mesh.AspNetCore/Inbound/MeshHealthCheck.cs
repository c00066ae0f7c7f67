using Mesh.Client.Runtime;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mesh.AspNetCore.Inbound;

/// <summary>Healthy when the mesh runtime is up; reports which services it knows and how many endpoints each has.</summary>
internal sealed class MeshHealthCheck(MeshRuntime runtime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = runtime.Snapshot;
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, service) in snapshot.Services)
        {
            data[name] = service.Endpoints.Length;
        }

        return Task.FromResult(HealthCheckResult.Healthy($"{snapshot.Services.Count} mesh service(s)", data));
    }
}
