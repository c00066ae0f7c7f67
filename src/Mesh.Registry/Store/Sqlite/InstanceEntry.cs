namespace Mesh.Registry.Store.Sqlite;

/// <summary>An instance's registration and lease, as kept in memory and in the store.</summary>
internal sealed class InstanceEntry
{
    public required string Service { get; init; }

    public required string Id { get; init; }

    public required string Address { get; set; }

    public string? Version { get; set; }

    public string? Zone { get; set; }

    public required Dictionary<string, string> Labels { get; set; }

    public int TtlSeconds { get; set; }

    public DateTimeOffset RenewedAt { get; set; }

    /// <summary>The lease deadline: <see cref="RenewedAt"/> + <see cref="TtlSeconds"/>. At this instant the lease has passed.</summary>
    public DateTimeOffset ExpiresAt { get; set; }
}
