namespace Mesh.Client.Resilience;

/// <summary>A route's retry settings, resolved from options.</summary>
internal sealed record RetryModel(int Attempts, TimeSpan? PerTryTimeout, RetryConditions Conditions, bool RetryNonIdempotent,
    TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    /// <summary>Istio's default for routes without a retry policy: 2 retries on connection-level failures and 503.</summary>
    public static RetryModel Default { get; } = new(2, null, RetryConditions.Default, false,
        TimeSpan.FromMilliseconds(25), TimeSpan.FromMilliseconds(250));

    /// <remarks>A retry policy that names no conditions keeps the default ones, as Istio's does.</remarks>
    public static RetryModel From(RetryOptions? options) => options is null
        ? Default
        : new RetryModel(options.Attempts, options.PerTryTimeout,
            options.RetryOn.Count == 0 ? RetryConditions.Default : RetryConditions.Parse(options.RetryOn, string.Empty, null),
            options.RetryNonIdempotent, options.BaseDelay, options.MaxDelay);
}
