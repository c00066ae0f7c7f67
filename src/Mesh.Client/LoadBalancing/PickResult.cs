using Mesh.Client.Resilience;

namespace Mesh.Client.LoadBalancing;

/// <summary>
/// The answer of <see cref="EndpointPicker.Pick(HttpRequestMessage, EndpointState?, CircuitBreakerModel?, string)"/>:
/// the endpoint an attempt goes to with the breaker that admitted it, or why there is none.
/// </summary>
internal readonly struct PickResult
{
    private PickResult(EndpointState? endpoint, EndpointBreaker? breaker, bool isProbe, PickFailure failure)
    {
        Endpoint = endpoint;
        Breaker = breaker;
        IsProbe = isProbe;
        Failure = failure;
    }

    /// <summary>
    /// The endpoint picked; with <see cref="PickFailure.CircuitOpen"/>, the last one whose breaker refused (the call
    /// reports its version); null with <see cref="PickFailure.NoEndpoint"/>.
    /// </summary>
    public EndpointState? Endpoint { get; }

    /// <summary>The breaker that admitted the attempt; null when the service has no circuit breaker or on failure.</summary>
    public EndpointBreaker? Breaker { get; }

    /// <summary>The attempt is its breaker's half-open probe: it must report its outcome or release the probe.</summary>
    public bool IsProbe { get; }

    public PickFailure Failure { get; }

    public bool Succeeded => Failure == PickFailure.None;

    public static PickResult NoEndpoint => new(null, null, isProbe: false, PickFailure.NoEndpoint);

    public static PickResult Picked(EndpointState endpoint, EndpointBreaker? breaker, bool isProbe) =>
        new(endpoint, breaker, isProbe, PickFailure.None);

    public static PickResult CircuitOpen(EndpointState refused) => new(refused, null, isProbe: false, PickFailure.CircuitOpen);
}
