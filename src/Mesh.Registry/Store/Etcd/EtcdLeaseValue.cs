using Mesh.Client.Registry;

namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// An instance's lease as kept under <c>leases/</c>: a renewal rewrites only this, so no index moves. It carries the
/// traffic numbers the renewal brought, so every replica's dashboard shows the whole mesh.
/// </summary>
internal sealed record EtcdLeaseValue(DateTimeOffset RenewedAt, DateTimeOffset ExpiresAt, TrafficStats? Traffic = null);
