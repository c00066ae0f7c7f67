using Mesh.Registry.Watches;

namespace Mesh.Registry.Store.Etcd;

/// <summary>One service as this replica's mirror of etcd holds it: instances, policy, indexes (etcd revisions) and the watches parked on them.</summary>
internal sealed class EtcdServiceEntry(string name)
{
    public string Name { get; } = name;

    /// <summary>The revision of the last change to the instance set (the mod revision of its <c>instances-index/</c> key).</summary>
    public long InstancesIndex { get; set; }

    /// <summary>The revision of the current policy version.</summary>
    public long PolicyIndex { get; set; }

    public Dictionary<string, EtcdInstanceEntry> Instances { get; } = new(StringComparer.Ordinal);

    public StoredPolicyVersion? Policy { get; set; }

    /// <summary>Set while the mass-expiry guard holds the service (its <c>held/</c> key), whichever replica decided it.</summary>
    public DateTimeOffset? HeldSince { get; set; }

    public int HeldCount { get; set; }

    /// <summary>When this service's recent expirations happened, for the guard's window (its <c>recent-expirations/</c> key).</summary>
    public Queue<DateTimeOffset> RecentExpirations { get; } = new();

    public TaskCompletionSource InstancesChanged { get; set; } = WatchSignal.New();

    public TaskCompletionSource PolicyChanged { get; set; } = WatchSignal.New();

    /// <summary>Whether the service is in the catalog: it has a policy or an instance reads return.</summary>
    public bool IsListed(DateTimeOffset now, bool showsExpired)
    {
        if (Policy?.Document is not null)
        {
            return true;
        }

        foreach (var i in Instances.Values)
        {
            if (IsShown(i, now, showsExpired))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether reads return the instance: its lease has not passed, or the guard holds the service's expired instances.</summary>
    public static bool IsShown(EtcdInstanceEntry instance, DateTimeOffset now, bool showsExpired) => showsExpired || instance.ExpiresAt > now;
}
