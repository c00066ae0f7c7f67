namespace Mesh.Client.Resilience;

/// <summary>A route's hedging settings, resolved from options.</summary>
internal sealed record HedgingModel(int MaxAttempts, TimeSpan Delay)
{
    /// <summary>The model of <paramref name="options"/>, or null for a route without hedging (validated: Delay is set).</summary>
    public static HedgingModel? From(HedgingOptions? options) =>
        options is null ? null : new HedgingModel(options.MaxAttempts, options.Delay ?? TimeSpan.Zero);
}
