namespace Mesh.Registry.Store.Etcd;

/// <summary>One instance in the mirror: its registration, its etcd lease, and the revisions a write compares against.</summary>
internal sealed class EtcdInstanceEntry
{
    public required string Service { get; init; }

    public required string Id { get; init; }

    public required EtcdInstanceValue Value { get; set; }

    /// <summary>The etcd lease both of the instance's keys are bound to.</summary>
    public long Lease { get; set; }

    /// <summary>The mod revision of the <c>instances/</c> key.</summary>
    public long ModRevision { get; set; }

    /// <summary>The mod revision of the <c>leases/</c> key (0 until it is seen).</summary>
    public long LeaseModRevision { get; set; }

    public DateTimeOffset RenewedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    /// <summary>When this replica last sent the etcd lease a keep-alive (wall clock ticks), so it sends one per third of the lease, not one per renewal.</summary>
    public long KeptAliveAt { get; set; }
}
