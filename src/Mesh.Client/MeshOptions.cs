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

    /// <summary>Inbound rate limits: every matching rule must let a request through, else it is answered 429.</summary>
    public IList<RateLimitRuleOptions> RateLimits { get; set; } = new List<RateLimitRuleOptions>();

    /// <summary>Metrics export, access log and OpenTelemetry settings.</summary>
    public MeshTelemetryOptions Telemetry { get; set; } = new();

    /// <summary>The <c>Discovery</c> section: endpoint sources besides the registry and configuration (a Consul catalog).</summary>
    public MeshDiscoveryOptions Discovery { get; set; } = new();

    /// <summary>Problems found while reading configuration text (bad numbers, unknown keys); reported by validation.</summary>
    internal List<string> ReadErrors { get; } = [];
}
