namespace Mesh.Client;

/// <summary>
/// A retry budget: over the last <see cref="Ttl"/>, retries to a service may be at most <see cref="RetryRatio"/> of its
/// requests plus a reserve of <see cref="MinRetriesPerSecond"/> × <see cref="Ttl"/>, there from the first request.
/// </summary>
public sealed class RetryBudgetOptions
{
    /// <summary>Retries allowed per request, 0.2 by default.</summary>
    public double RetryRatio { get; set; } = 0.2;

    /// <summary>Retries allowed each second whatever the request rate, 10 by default.</summary>
    public int MinRetriesPerSecond { get; set; } = 10;

    /// <summary>The window requests and retries are counted over, 10 s by default.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(10);
}
