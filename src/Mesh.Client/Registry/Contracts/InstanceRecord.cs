namespace Mesh.Client.Registry;

/// <summary>An instance as the registry reports it.</summary>
public sealed class InstanceRecord
{
    public string Id { get; set; } = string.Empty;

    public string Service { get; set; } = string.Empty;

    public string Address { get; set; } = string.Empty;

    public string? Version { get; set; }

    public string? Zone { get; set; }

    public Dictionary<string, string> Labels { get; set; } = [];

    public int TtlSeconds { get; set; }

    /// <summary>When the lease ends without a renewal.</summary>
    public DateTimeOffset ExpiresAt { get; set; }
}
