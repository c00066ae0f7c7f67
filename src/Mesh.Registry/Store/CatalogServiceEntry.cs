using Mesh.Registry.Watches;

namespace Mesh.Registry.Store;

/// <summary>
/// One service as a store holds it in memory: its instances, its policy, the indexes of their last changes (the
/// SQLite store's own counter, or etcd revisions) and the signals its watches park on.
/// </summary>
internal abstract class CatalogServiceEntry<TInstance>(string name)
{
    public string Name { get; } = name;

    /// <summary>The index of the last change to the instance set (registration, change, deregistration, expiry).</summary>
    public long InstancesIndex { get; set; }

    /// <summary>The index of the current policy version, or of its deletion.</summary>
    public long PolicyIndex { get; set; }

    public Dictionary<string, TInstance> Instances { get; } = new(StringComparer.Ordinal);

    /// <summary>The latest policy version; its document is null after a deletion.</summary>
    public StoredPolicyVersion? Policy { get; set; }

    /// <summary>Set while the mass-expiry guard holds expired instances of this service, whichever replica decided it.</summary>
    public DateTimeOffset? HeldSince { get; set; }

    public int HeldCount { get; set; }

    /// <summary>When this service's recent expirations happened, for the guard's window.</summary>
    public Queue<DateTimeOffset> RecentExpirations { get; } = new();

    public TaskCompletionSource InstancesChanged { get; set; } = WatchSignal.New();

    public TaskCompletionSource PolicyChanged { get; set; } = WatchSignal.New();
}
