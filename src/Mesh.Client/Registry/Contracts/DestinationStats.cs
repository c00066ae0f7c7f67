namespace Mesh.Client.Registry;

/// <summary>Requests to one destination service and version over a window.</summary>
public sealed class DestinationStats
{
    public string Service { get; set; } = string.Empty;

    public string? Version { get; set; }

    public long Requests { get; set; }

    /// <summary>Requests that ended in a 5xx or in no response at all.</summary>
    public long Errors { get; set; }

    public double? P50Ms { get; set; }

    public double? P99Ms { get; set; }
}
