namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// An expired instance as the sweep judged it: the revisions its removal compares against are taken when it is judged,
/// not when its batch is written, so a renewal or change the mirror applies meanwhile makes the removal fail.
/// </summary>
internal sealed record ExpiringInstance(string Id, long ModRevision, long LeaseModRevision, long Lease);
