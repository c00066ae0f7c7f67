namespace Mesh.Registry.Store.Sqlite;

/// <summary>One service as the SQLite store holds it; the indexes are the store's global index.</summary>
internal sealed class ServiceEntry(string name) : CatalogServiceEntry<InstanceEntry>(name)
{
    public bool IsListed => Instances.Count > 0 || Policy?.Document is not null;
}
