namespace Mesh.Client.LoadBalancing;

/// <summary>Why a pick has no endpoint for the attempt.</summary>
/// <remarks>
/// Every endpoint being ejected is not a reason: with too few healthy endpoints ejections are ignored (panic mode),
/// so a non-empty subset always yields an endpoint before its breakers are asked.
/// </remarks>
internal enum PickFailure : byte
{
    /// <summary>An endpoint was picked.</summary>
    None,

    /// <summary>The destination (its subset) has no endpoint at all.</summary>
    NoEndpoint,

    /// <summary>The circuit breaker of every endpoint tried refused the attempt.</summary>
    CircuitOpen,
}
