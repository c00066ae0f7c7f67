using Mesh.Registry.Watches;

namespace Mesh.Registry.Store.Sqlite;

/// <summary>One service as the registry knows it: its instances, its policy, its indexes and its watchers.</summary>
internal sealed class ServiceEntry(string name)
{
    public string Name { get; } = name;

    /// <summary>The global index of the last change to the service's instance set (registration, change, deregistration, expiry).</summary>
    public long InstancesIndex { get; set; }

    /// <summary>The global index of the last change to the service's policy.</summary>
    public long PolicyIndex { get; set; }

    public Dictionary<string, InstanceEntry> Instances { get; } = new(StringComparer.Ordinal);

    /// <summary>The latest policy version; its document is null after a deletion.</summary>
    public StoredPolicyVersion? Policy { get; set; }

    /// <summary>Set while the mass-expiry guard holds instances of this service.</summary>
    public DateTimeOffset? HeldSince { get; set; }

    public int HeldCount { get; set; }

    /// <summary>When this service's recent expirations happened, for the guard's window.</summary>
    public Queue<DateTimeOffset> RecentExpirations { get; } = new();

    public TaskCompletionSource InstancesChanged { get; set; } = WatchSignal.New();

    public TaskCompletionSource PolicyChanged { get; set; } = WatchSignal.New();

    public bool IsListed => Instances.Count > 0 || Policy?.Document is not null;
}
