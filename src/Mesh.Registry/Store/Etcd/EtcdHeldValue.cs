namespace Mesh.Registry.Store.Etcd;

/// <summary>The mass-expiry guard's hold on a service, as kept under <c>held/</c> so every replica reports it.</summary>
internal sealed record EtcdHeldValue(DateTimeOffset Since, int Count);
