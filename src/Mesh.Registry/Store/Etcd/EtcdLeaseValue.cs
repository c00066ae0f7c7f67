namespace Mesh.Registry.Store.Etcd;

/// <summary>An instance's lease as kept under <c>leases/</c>: a renewal rewrites only this, so no index moves.</summary>
internal sealed record EtcdLeaseValue(DateTimeOffset RenewedAt, DateTimeOffset ExpiresAt);
