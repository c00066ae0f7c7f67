namespace Mesh.Registry.Store.Etcd;

/// <summary>A join token as kept under <c>join-tokens/</c>: its hash, never the token.</summary>
internal sealed record EtcdJoinTokenValue(string Hash, string Service, string? Version, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, int Uses, int Used);
