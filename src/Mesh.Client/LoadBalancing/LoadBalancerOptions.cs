namespace Mesh.Client;

/// <summary>How a service's endpoints are chosen.</summary>
public sealed class LoadBalancerOptions
{
    /// <summary>The algorithm; <see cref="LoadBalancerPolicy.PeakEwma"/> by default.</summary>
    public LoadBalancerPolicy Policy { get; set; } = LoadBalancerPolicy.PeakEwma;

    /// <summary>For <see cref="LoadBalancerPolicy.RingHash"/>: the request header whose value is hashed.</summary>
    public string? HashHeader { get; set; }

    /// <summary>
    /// When fewer than this percentage of a subset's endpoints are healthy, ejections are ignored and every endpoint
    /// takes traffic again (panic mode), so a partial outage does not overload the survivors. 50 by default.
    /// </summary>
    public double MinHealthPercent { get; set; } = 50;

    /// <summary>Locality-aware balancing across zones; on by default when this app has a zone.</summary>
    public LocalityOptions Locality { get; set; } = new();

    /// <summary>
    /// Ramps up the share of an endpoint that joins the service after the client started, or returns from an outlier
    /// ejection; null (the default) gives it its full share at once. Not supported with
    /// <see cref="LoadBalancerPolicy.RingHash"/>.
    /// </summary>
    public SlowStartOptions? SlowStart { get; set; }
}
