namespace Mesh.Client;

/// <summary>
/// The <c>Mesh</c> configuration section: who this app is, where the registry is, how it secures its traffic and
/// the policies of the services it calls.
/// </summary>
public sealed class MeshOptions
{
    /// <summary>The configuration section <c>AddMesh()</c> and <c>AddMeshClient()</c> bind by default.</summary>
    public const string SectionName = "Mesh";

    /// <summary>This app's own identity in the mesh.</summary>
    public ServiceIdentityOptions Service { get; set; } = new();

    /// <summary>The registry and policy service. Unset means configuration-only discovery.</summary>
    public MeshRegistryOptions Registry { get; set; } = new();

    /// <summary>Transport security settings.</summary>
    public MeshSecurityOptions Security { get; set; } = new();

    /// <summary>The services this app calls, keyed by their logical name (the host in <c>http://reviews/...</c>).</summary>
    public IDictionary<string, ServicePolicyOptions> Services { get; set; } =
        new Dictionary<string, ServicePolicyOptions>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Inbound authorization rules: DENY first, then ALLOW.</summary>
    public IList<AuthorizationRuleOptions> Authorization { get; set; } = new List<AuthorizationRuleOptions>();

    /// <summary>Metrics export, access log and OpenTelemetry settings.</summary>
    public MeshTelemetryOptions Telemetry { get; set; } = new();

    /// <summary>Problems found while reading configuration text (bad numbers, unknown keys); reported by validation.</summary>
    internal List<string> ReadErrors { get; } = [];
}

/// <summary>This app's identity: the name other services call it by, and the labels its endpoints carry.</summary>
public sealed class ServiceIdentityOptions
{
    /// <summary>The logical service name, e.g. <c>productpage</c>.</summary>
    public string? Name { get; set; }

    /// <summary>The deployed version, e.g. <c>v1</c>; reported as <c>source_version</c> and as the <c>version</c> label.</summary>
    public string? Version { get; set; }

    /// <summary>The zone or locality this instance runs in.</summary>
    public string? Zone { get; set; }

    /// <summary>Extra labels of this instance.</summary>
    public IDictionary<string, string> Labels { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
}

/// <summary>Where the registry is and the token this app joins with.</summary>
public sealed class MeshRegistryOptions
{
    /// <summary>
    /// The registry's base URL, e.g. <c>https://registry.example:7400</c>. An https URL needs <see cref="CaFingerprint"/>
    /// or <see cref="CaFile"/>. Plain http is accepted for loopback addresses only (127.0.0.0/8, ::1, localhost) unless
    /// <see cref="AllowInsecure"/> is set.
    /// </summary>
    public Uri? Url { get; set; }

    /// <summary>
    /// The registry CA's root fingerprint as the registry prints it at start, <c>sha256:</c> and 64 hex digits. The
    /// registry is accepted only with a certificate for <c>spiffe://&lt;trust domain&gt;/registry</c> that chains to this
    /// root (or to a root learned from it later, so root rotations keep working).
    /// </summary>
    public string? CaFingerprint { get; set; }

    /// <summary>A PEM file with the registry CA's root certificate(s), an alternative to <see cref="CaFingerprint"/>.</summary>
    public string? CaFile { get; set; }

    /// <summary>
    /// Allows a plain http <see cref="Url"/> to a host that is not a loopback address. Join tokens, certificate requests
    /// and the trust bundle then cross the network in the clear: for isolated test networks only. False by default.
    /// </summary>
    public bool AllowInsecure { get; set; }

    /// <summary>The join token for this service. Never logged.</summary>
    public string? Token { get; set; }

    /// <summary>This instance's id in the registry; by default the machine name and the port it listens on.</summary>
    public string? InstanceId { get; set; }

    /// <summary>The address other services reach this app at; by default the first address Kestrel bound.</summary>
    public Uri? AdvertiseAddress { get; set; }

    /// <summary>The registration's lease: it expires this long after the last renewal. Renewed every third of it. 15 s by default.</summary>
    public int TtlSeconds { get; set; } = 15;

    /// <summary>
    /// On shutdown, how long to keep serving after deregistering, so that watchers stop sending before the server
    /// stops. 2 s by default.
    /// </summary>
    public TimeSpan DrainDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Where the last snapshot from the registry is kept, so an app restarted while the registry is down still
    /// routes. By default a folder under the system's temporary directory; empty turns the cache off.
    /// </summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Whether to register this app with the registry. True by default when <see cref="Url"/> is set.</summary>
    public bool Register { get; set; } = true;
}

/// <summary>Whether mesh traffic uses mutual TLS.</summary>
public enum MeshSecurityMode
{
    /// <summary>Accept mTLS and plaintext; originate mTLS to endpoints known to speak it.</summary>
    Permissive,

    /// <summary>mTLS only.</summary>
    Strict,

    /// <summary>No mesh TLS.</summary>
    Disabled,
}

/// <summary>Transport security settings.</summary>
public sealed class MeshSecurityOptions
{
    /// <summary>The security mode; <see cref="MeshSecurityMode.Permissive"/> by default.</summary>
    public MeshSecurityMode Mode { get; set; } = MeshSecurityMode.Permissive;

    /// <summary>The SPIFFE trust domain: identities are <c>spiffe://&lt;trust domain&gt;/svc/&lt;service&gt;</c>.</summary>
    public string TrustDomain { get; set; } = "mesh.local";

    /// <summary>When true, inbound authorization logs and counts what it would deny, and lets it through.</summary>
    public bool AuthorizationDryRun { get; set; }
}

/// <summary>Whether an authorization rule allows or denies what it matches.</summary>
public enum AuthorizationAction
{
    /// <summary>Allow matching requests.</summary>
    Allow,

    /// <summary>Deny matching requests; evaluated before every ALLOW rule.</summary>
    Deny,
}

/// <summary>One inbound authorization rule.</summary>
public sealed class AuthorizationRuleOptions
{
    /// <summary>Allow or Deny.</summary>
    public AuthorizationAction Action { get; set; } = AuthorizationAction.Allow;

    /// <summary>Calling service names, or <c>*</c>. Empty matches every caller.</summary>
    public IList<string> From { get; set; } = new List<string>();

    /// <summary>Paths, exact or as a prefix written <c>/x/*</c>. Empty matches every path.</summary>
    public IList<string> Paths { get; set; } = new List<string>();

    /// <summary>HTTP methods. Empty matches every method.</summary>
    public IList<string> Methods { get; set; } = new List<string>();
}
