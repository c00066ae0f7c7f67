namespace Mesh.Registry.Store;

/// <summary>A stored policy version; <see cref="Document"/> is null for a deletion.</summary>
internal sealed record StoredPolicyVersion(long Version, string? Document, DateTimeOffset CreatedAt, long? RollbackOf);
