namespace Mesh.Client;

/// <summary>Ejection of endpoints that keep failing, with Istio's semantics and defaults.</summary>
public sealed class OutlierDetectionOptions
{
    /// <summary>Consecutive 5xx answers (or connection failures) that eject an endpoint; 0 turns this off. 5 by default.</summary>
    public int Consecutive5xxErrors { get; set; } = 5;

    /// <summary>Consecutive 502, 503, 504 answers (or connection failures) that eject an endpoint; 0 (the default) turns this off.</summary>
    public int ConsecutiveGatewayErrors { get; set; }

    /// <summary>How often ejection multipliers decay for endpoints that stayed healthy. 10 s by default.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The ejection time, multiplied by the number of times the endpoint was ejected. 30 s by default.</summary>
    public TimeSpan BaseEjectionTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest share of endpoints ejected at once, 0 to 100; one endpoint may always be ejected. 10 by default.</summary>
    public double MaxEjectionPercent { get; set; } = 10;
}
