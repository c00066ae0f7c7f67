namespace Mesh.Client.Security;

/// <summary>
/// Where a workload's credentials come from: the registry's CA (the default when a registry is configured), or a
/// test CA. <see cref="Current"/> is read on every TLS handshake, so new connections take a renewed certificate at once
/// while established ones keep theirs until they close.
/// </summary>
internal interface IWorkloadIdentity
{
    /// <summary>The credentials now, or null before the first certificate arrived.</summary>
    WorkloadCredentials? Current { get; }

    /// <summary>Starts getting (and renewing) credentials; completes when the first are in hand or the attempt gave up.</summary>
    Task StartAsync(CancellationToken cancellationToken);
}
