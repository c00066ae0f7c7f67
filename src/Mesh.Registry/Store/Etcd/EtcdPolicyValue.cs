namespace Mesh.Registry.Store.Etcd;

/// <summary>A policy version as kept under <c>policies/</c> (the current one) and <c>policy-versions/</c> (all of them).</summary>
internal sealed record EtcdPolicyValue(long Version, string? Document, DateTimeOffset CreatedAt, long? RollbackOf);
