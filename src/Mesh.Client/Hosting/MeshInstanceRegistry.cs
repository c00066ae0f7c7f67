using Mesh.Client.Registry;

namespace Mesh.Client.Hosting;

/// <summary>
/// Registers this app's instance with the mesh registry, over the same transport and credentials the mesh's own
/// discovery uses. A hosting seam for the server integration (Mesh.AspNetCore registers the addresses it listens
/// on); apps do not need it. Registered by <c>AddMeshClient()</c>.
/// </summary>
public sealed class MeshInstanceRegistry : IDisposable
{
    private readonly Lazy<RegistryClient> _client;

    internal MeshInstanceRegistry(RegistryTransport transport) =>
        _client = new Lazy<RegistryClient>(transport.CreateClient, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Registers or renews the lease of instance <paramref name="instanceId"/> of <paramref name="service"/>.</summary>
    public Task RegisterAsync(string service, string instanceId, InstanceRegistration registration, CancellationToken cancellationToken) =>
        _client.Value.RegisterAsync(service, instanceId, registration, cancellationToken);

    /// <summary>Removes the instance, so watchers stop routing to it before its lease runs out.</summary>
    public Task DeregisterAsync(string service, string instanceId, CancellationToken cancellationToken) =>
        _client.Value.DeregisterAsync(service, instanceId, cancellationToken);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_client.IsValueCreated)
        {
            _client.Value.Dispose();
        }
    }
}
