using Mesh.Registry.Store.Etcd;
using Mesh.Registry.Store.Sqlite;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Store;

/// <summary>Makes the store <c>MeshRegistry:Store</c> names (validated at start by <see cref="RegistryOptionsValidator"/>).</summary>
internal static class RegistryStoreFactory
{
    public static IRegistryStore Create(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<RegistryOptions>>().Value;
        return options.Store switch
        {
            var s when string.Equals(s, RegistryStoreNames.Sqlite, StringComparison.OrdinalIgnoreCase) =>
                ActivatorUtilities.CreateInstance<SqliteRegistryStore>(services),
            var s when string.Equals(s, RegistryStoreNames.Etcd, StringComparison.OrdinalIgnoreCase) =>
                ActivatorUtilities.CreateInstance<EtcdRegistryStore>(services),
            var s => throw new InvalidOperationException($"{RegistryOptions.SectionName}:Store: '{s}' is not a store this registry has"),
        };
    }
}
