namespace Mesh.Client;

/// <summary>
/// Faults a route injects into the requests it matches, as Envoy's fault filter does: by default the delay and the
/// abort are decided once per logical request, before its first attempt, so a <c>Percentage</c> is the share of
/// logical requests that meet the fault whether the route retries or not, and an injected abort is the caller's
/// answer, never retried. <see cref="PerAttempt"/> makes every attempt meet them instead, for resilience drills.
/// </summary>
public sealed class FaultOptions
{
    /// <summary>Delay a share of requests (of attempts with <see cref="PerAttempt"/>).</summary>
    public DelayFaultOptions? Delay { get; set; }

    /// <summary>Answer a share of requests (of attempts with <see cref="PerAttempt"/>) with an error without calling the backend.</summary>
    public AbortFaultOptions? Abort { get; set; }

    /// <summary>
    /// Decide the faults again for every attempt, so that retries meet them (and an abort may be retried away): for
    /// drills that show what retries recover. False by default: the faults are decided once per request.
    /// </summary>
    public bool PerAttempt { get; set; }
}
