namespace Mesh.Registry.Contracts;

/// <summary>Traffic from one service to one version of another, summed over the source's instances.</summary>
internal sealed class DashboardEdge
{
    public string Source { get; set; } = string.Empty;

    public string Destination { get; set; } = string.Empty;

    public string? DestinationVersion { get; set; }

    public double RequestsPerSecond { get; set; }

    /// <summary>Percentage of requests that did not fail, 0 to 100; null without requests.</summary>
    public double? SuccessPercent { get; set; }

    public double? P50Ms { get; set; }

    public double? P99Ms { get; set; }
}
