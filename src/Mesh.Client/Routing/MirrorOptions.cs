namespace Mesh.Client;

/// <summary>Traffic mirroring: a copy of a share of requests goes to another subset; its response is discarded.</summary>
public sealed class MirrorOptions
{
    /// <summary>The subset that receives the copies.</summary>
    public string? Subset { get; set; }

    /// <summary>The share of requests mirrored, 0 to 100.</summary>
    public double Percentage { get; set; } = 100;
}
