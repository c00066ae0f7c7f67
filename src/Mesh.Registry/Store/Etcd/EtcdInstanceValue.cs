namespace Mesh.Registry.Store.Etcd;

/// <summary>A registration as kept under <c>instances/</c>.</summary>
internal sealed record EtcdInstanceValue(string Address, string? Version, string? Zone, Dictionary<string, string> Labels, int TtlSeconds);
