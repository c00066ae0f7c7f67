namespace Mesh.Client;

/// <summary>
/// Envoy's slow start: an endpoint that joins a service after the client started, or comes back from an outlier
/// ejection, gets a share of traffic that grows over <see cref="Window"/> instead of its full share at once, so a cold
/// instance (empty caches, JIT, connection pools) is not flooded. Not supported with
/// <see cref="LoadBalancerPolicy.RingHash"/>.
/// </summary>
public sealed class SlowStartOptions
{
    /// <summary>How long the ramp lasts; required, above zero.</summary>
    public TimeSpan Window { get; set; }

    /// <summary>
    /// The ramp's shape: the weight is <c>(time in window / Window)^(1 / Aggression)</c>. 1 (the default) ramps
    /// linearly; above 1 the weight rises quickly at first, below 1 it stays low for longer.
    /// </summary>
    public double Aggression { get; set; } = 1.0;

    /// <summary>The least weight, in percent of a full one, an endpoint in slow start has: 10 by default, as in Envoy.</summary>
    public double MinWeightPercent { get; set; } = 10;
}
