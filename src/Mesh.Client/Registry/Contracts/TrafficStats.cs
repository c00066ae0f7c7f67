namespace Mesh.Client.Registry;

/// <summary>
/// An instance's outbound traffic since its previous renewal, measured by its client pipeline: the registry's
/// dashboard draws its service graph from these, so no metrics server is needed to see the mesh.
/// </summary>
public sealed class TrafficStats
{
    /// <summary>How long the window these numbers cover was, in seconds.</summary>
    public double WindowSeconds { get; set; }

    public List<DestinationStats>? Destinations { get; set; }

    /// <summary>When this workload's certificate expires, when it has one.</summary>
    public DateTimeOffset? CertificateExpiresAt { get; set; }
}
