using Mesh.Client.Registry;
using Mesh.Client.Runtime;
using Microsoft.Extensions.Options;

namespace Mesh.Client.Status;

/// <summary>
/// <see cref="IMeshStatus"/> over the runtime's current model. A copy per read keeps the runtime's own types out of
/// the public surface; readers are health checks and diagnostics, never the request path.
/// </summary>
internal sealed class MeshStatus(MeshRuntime runtime, RegistryDiscoverySource registry, IOptions<MeshOptions> options) : IMeshStatus
{
    public IReadOnlyDictionary<string, MeshServiceStatus> Services
    {
        get
        {
            var services = runtime.Model.Services;
            var result = new Dictionary<string, MeshServiceStatus>(services.Count, StringComparer.OrdinalIgnoreCase);
            foreach (var (name, service) in services)
            {
                result[name] = new MeshServiceStatus(service.Name, service.Endpoints.Length, [.. service.Routes.Select(r => r.Name)]);
            }

            return result;
        }
    }

    public bool RegistryConnected => options.Value.Registry.IsConfigured && registry.IsConnected;

    public TimeSpan? RegistrySnapshotAge =>
        !options.Value.Registry.IsConfigured || registry.SnapshotAge == Timeout.InfiniteTimeSpan ? null : registry.SnapshotAge;
}
