namespace Mesh.Client.Registry;

/// <summary>Body of <c>PUT /v1/services/{service}/instances/{id}</c>: register or renew.</summary>
public sealed class InstanceRegistration
{
    public string? Address { get; set; }

    public string? Version { get; set; }

    public string? Zone { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public int TtlSeconds { get; set; }

    /// <summary>What this instance sent since its previous renewal; absent from older clients and from the first registration.</summary>
    public TrafficStats? Stats { get; set; }
}
