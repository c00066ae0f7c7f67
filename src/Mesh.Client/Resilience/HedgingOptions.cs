namespace Mesh.Client;

/// <summary>
/// Hedging: when the first attempt of an idempotent request has no answer after <see cref="Delay"/>, another attempt
/// starts on another endpoint without cancelling the first; the first good answer wins and the others are cancelled.
/// Each hedge is taken from the service's retry budget. gRPC calls and requests whose body is not in memory are not hedged.
/// </summary>
public sealed class HedgingOptions
{
    /// <summary>The most attempts in flight at once, the first included: 2 to 10. 2 by default.</summary>
    public int MaxAttempts { get; set; } = 2;

    /// <summary>
    /// How long an attempt waits for an answer before the next hedge starts. Required, and below the route's
    /// <c>Timeout</c> and <c>Retry:PerTryTimeout</c>; 0 starts every hedge at once.
    /// </summary>
    public TimeSpan? Delay { get; set; }
}
