namespace Mesh.Client.Resilience;

/// <summary>
/// The circuit breaker settings of one service as the handler reads them: an immutable copy of
/// <see cref="CircuitBreakerOptions"/>, compared by value so that a reload with the same settings keeps the breakers.
/// </summary>
internal sealed record CircuitBreakerModel(double FailureRatio, int MinimumThroughput, TimeSpan SamplingDuration, TimeSpan BreakDuration)
{
    /// <summary>The model of <paramref name="options"/>, or null when breakers are off.</summary>
    public static CircuitBreakerModel? From(CircuitBreakerOptions options) => options.Enabled
        ? new(options.FailureRatio, options.MinimumThroughput, options.SamplingDuration, options.BreakDuration)
        : null;
}
