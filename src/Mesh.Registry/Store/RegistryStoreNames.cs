namespace Mesh.Registry.Store;

/// <summary>The values of <c>MeshRegistry:Store</c> (compared ignoring case).</summary>
internal static class RegistryStoreNames
{
    /// <summary>The embedded SQLite file at <c>MeshRegistry:DataPath</c>, in one registry process.</summary>
    public const string Sqlite = "Sqlite";

    /// <summary>An etcd cluster (<c>MeshRegistry:Etcd</c>), shared by any number of registry replicas.</summary>
    public const string Etcd = "Etcd";

    /// <summary>Every store this build has, as the validator lists them.</summary>
    public static readonly string[] All = [Sqlite, Etcd];
}
