namespace Mesh.Client;

/// <summary>Load balancer algorithms.</summary>
public enum LoadBalancerPolicy
{
    /// <summary>Power of two choices over latency EWMA times requests in flight; the default.</summary>
    PeakEwma,

    /// <summary>Each endpoint in turn.</summary>
    RoundRobin,

    /// <summary>A uniformly random endpoint.</summary>
    Random,

    /// <summary>Power of two choices over requests in flight.</summary>
    LeastRequest,

    /// <summary>Consistent hashing on <see cref="LoadBalancerOptions.HashHeader"/>.</summary>
    RingHash,
}
