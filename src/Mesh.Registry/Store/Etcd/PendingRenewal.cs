namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// A renewal waiting for the next group commit: the lease key's new value, written only while the instance key is
/// still at <see cref="InstanceRevision"/>. <see cref="Done"/> is true once committed, false when the instance changed
/// or went meanwhile (the caller decides again).
/// </summary>
internal sealed class PendingRenewal(string instanceKey, long instanceRevision, string leaseKey, long lease, string value)
{
    public string InstanceKey { get; } = instanceKey;

    public long InstanceRevision { get; } = instanceRevision;

    public string LeaseKey { get; } = leaseKey;

    public long Lease { get; } = lease;

    public string Value { get; } = value;

    public TaskCompletionSource<bool> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
