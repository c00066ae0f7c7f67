namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// A sweep's verdict to remove a service's expired <see cref="Instances"/>: whether they count in the guard's window
/// (on top of <see cref="Recent"/>, the expirations already in it), and whether their removal ends the service's hold.
/// </summary>
internal sealed record Expiry(EtcdServiceEntry Service, List<ExpiringInstance> Instances, List<DateTimeOffset> Recent, bool CountInWindow, bool EndsHold);
