using Mesh.Client.Security;

namespace Mesh.Client.Hosting;

/// <summary>
/// The server side of mesh mTLS: whether it is on, the workload's credentials for the next handshake, and the
/// <c>Mesh.Security</c> counters the server side reports on. A hosting seam for the server integration
/// (Mesh.AspNetCore's Kestrel setup and authorization); apps do not need it. Registered by <c>AddMeshClient()</c>.
/// </summary>
public sealed class MeshServerSecurity
{
    private const string Side = "server";
    private readonly MeshSecurity _security;

    internal MeshServerSecurity(MeshSecurity security) => _security = security;

    /// <summary>Whether the mesh has a workload identity, so inbound connections are mesh TLS.</summary>
    public bool Enabled => _security.Enabled;

    /// <summary>Whether plaintext callers are refused (<see cref="MeshSecurityMode.Strict"/>) or served.</summary>
    public MeshSecurityMode Mode => _security.Mode;

    /// <summary>When the workload certificate in force expires, or null when there is none (yet).</summary>
    public DateTimeOffset? CertificateExpiresAt => _security.Identity?.Current?.NotAfter;

    /// <summary>Gets the first workload credentials and keeps renewing them; completes when the first are in hand.</summary>
    public Task StartAsync(CancellationToken cancellationToken) => _security.Identity?.StartAsync(cancellationToken) ?? Task.CompletedTask;

    /// <summary>
    /// The credentials for one connection's handshake, read once so a renewal mid-handshake cannot mix two
    /// certificates; null before the first certificate arrived.
    /// </summary>
    public MeshServerHandshake? BeginHandshake() =>
        _security.Identity?.Current is { } credentials ? new MeshServerHandshake(_security, credentials) : null;

    /// <summary>Counts a completed server handshake.</summary>
    public void RecordHandshake() => _security.RecordHandshake(Side);

    /// <summary>Counts a connection refused for <paramref name="reason"/> (<c>plaintext</c>, <c>no-certificate</c>, …).</summary>
    public void RecordPeerRejected(string reason) => _security.RecordPeerRejected(Side, reason, null, null);

    /// <summary>Counts a request the authorization rules denied (or, in dry run, would have).</summary>
    public void RecordDenied(string caller, bool dryRun) => _security.RecordDenied(caller, dryRun);
}
