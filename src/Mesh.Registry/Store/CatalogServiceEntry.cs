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

    /// <summary>How many watches are parked on this entry's signals now.</summary>
    public int Parked { get; set; }

    /// <summary>
    /// Made only for watches to park on and left as made: nothing registered, written or changed. Such an entry holds
    /// nothing a later read needs (a new one answers alike), so the store lets it go once no watch is parked on it;
    /// otherwise any reader could grow the store's memory by watching names nobody uses.
    /// </summary>
    public bool IsUnused => Parked == 0 && InstancesIndex == 0 && PolicyIndex == 0 && Instances.Count == 0 && Policy is null && HeldSince is null;
}
