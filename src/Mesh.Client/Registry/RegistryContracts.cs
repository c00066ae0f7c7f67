using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Client.Registry;

// The registry's wire contracts, shared by the registry and its clients so both sides read and write one definition.
// JSON is camelCase; unknown members are ignored on read so either side can add fields first.

/// <summary>Body of <c>PUT /v1/services/{service}/instances/{id}</c>: register or renew.</summary>
internal sealed class InstanceRegistration
{
    public string? Address { get; set; }

    public string? Version { get; set; }

    public string? Zone { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public int TtlSeconds { get; set; }

    /// <summary>What this instance sent since its previous renewal; absent from older clients and from the first registration.</summary>
    public TrafficStats? Stats { get; set; }
}

/// <summary>
/// An instance's outbound traffic since its previous renewal, measured by its client pipeline: the registry's
/// dashboard draws its service graph from these, so no metrics server is needed to see the mesh.
/// </summary>
internal sealed class TrafficStats
{
    /// <summary>How long the window these numbers cover was, in seconds.</summary>
    public double WindowSeconds { get; set; }

    public List<DestinationStats>? Destinations { get; set; }

    /// <summary>When this workload's certificate expires, when it has one.</summary>
    public DateTimeOffset? CertificateExpiresAt { get; set; }
}

/// <summary>Requests to one destination service and version over a window.</summary>
internal sealed class DestinationStats
{
    public string Service { get; set; } = string.Empty;

    public string? Version { get; set; }

    public long Requests { get; set; }

    /// <summary>Requests that ended in a 5xx or in no response at all.</summary>
    public long Errors { get; set; }

    public double? P50Ms { get; set; }

    public double? P99Ms { get; set; }
}

/// <summary>An instance as the registry reports it.</summary>
internal sealed class InstanceRecord
{
    public string Id { get; set; } = string.Empty;

    public string Service { get; set; } = string.Empty;

    public string Address { get; set; } = string.Empty;

    public string? Version { get; set; }

    public string? Zone { get; set; }

    public Dictionary<string, string> Labels { get; set; } = [];

    public int TtlSeconds { get; set; }

    /// <summary>When the lease ends without a renewal.</summary>
    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>Body of <c>GET /v1/services/{service}/instances</c>.</summary>
internal sealed class InstancesResponse
{
    public long Index { get; set; }

    public List<InstanceRecord> Instances { get; set; } = [];
}

internal sealed class ServiceSummary
{
    public string Name { get; set; } = string.Empty;

    public int Instances { get; set; }

    public long PolicyVersion { get; set; }

    /// <summary>Instances whose lease has passed but that the registry's mass-expiry guard keeps listed.</summary>
    public int HeldInstances { get; set; }
}

/// <summary>Body of <c>GET /v1/services</c>.</summary>
internal sealed class ServicesResponse
{
    public long Index { get; set; }

    public List<ServiceSummary> Services { get; set; } = [];
}

/// <summary>Body of <c>GET /v1/policies/{service}</c>; <see cref="Document"/> is null while the service has none.</summary>
internal sealed class PolicyResponse
{
    public string Service { get; set; } = string.Empty;

    /// <summary>The policy's version, 0 when there is none.</summary>
    public long Version { get; set; }

    /// <summary>The watch index of the last change.</summary>
    public long Index { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public JsonElement? Document { get; set; }

    public DateTimeOffset? UpdatedAt { get; set; }
}

internal sealed class PolicyVersionRecord
{
    public long Version { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The document of that version; null for a deletion.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public JsonElement? Document { get; set; }

    /// <summary>When this version was made by a rollback, the version it restored.</summary>
    public long? RollbackOf { get; set; }
}

/// <summary>Body of <c>GET /v1/policies/{service}/history</c>, newest first.</summary>
internal sealed class PolicyHistoryResponse
{
    public string Service { get; set; } = string.Empty;

    public List<PolicyVersionRecord> Versions { get; set; } = [];
}

/// <summary>Body of a successful <c>POST /v1/policies/{service}/validate</c>.</summary>
internal sealed class PolicyValidationResponse
{
    public bool Valid { get; set; }
}

/// <summary>Body of <c>POST /v1/certificates</c>: a PKCS#10 request in PEM; <see cref="Service"/> only with the admin token.</summary>
internal sealed class CertificateSigningRequest
{
    public string? Csr { get; set; }

    public string? Service { get; set; }
}

/// <summary>A signed workload certificate, its chain up to (not including) the root, and the roots to trust, all PEM.</summary>
internal sealed class CertificateResponse
{
    public string Certificate { get; set; } = string.Empty;

    public List<string> Chain { get; set; } = [];

    public List<string> TrustBundle { get; set; } = [];

    public string SpiffeId { get; set; } = string.Empty;

    public DateTimeOffset NotAfter { get; set; }
}

/// <summary>Body of <c>GET /v1/trust-bundle</c>: every root a workload must trust (more than one during a rotation).</summary>
internal sealed class TrustBundleResponse
{
    public long Index { get; set; }

    public string TrustDomain { get; set; } = string.Empty;

    public List<string> Roots { get; set; } = [];
}

/// <summary>One CA root as <c>GET /v1/ca/roots</c> lists it.</summary>
internal sealed class CaRootRecord
{
    public string Id { get; set; } = string.Empty;

    public bool Active { get; set; }

    public string Subject { get; set; } = string.Empty;

    public string Sha256 { get; set; } = string.Empty;

    /// <summary>The root's pin as clients write it in <c>Mesh:Registry:CaFingerprint</c>: <c>sha256:</c> and lower-case hex.</summary>
    public string Fingerprint { get; set; } = string.Empty;

    public DateTimeOffset NotBefore { get; set; }

    public DateTimeOffset NotAfter { get; set; }

    public string Certificate { get; set; } = string.Empty;
}

/// <summary>Body of <c>GET /v1/ca/roots</c>.</summary>
internal sealed class CaRootsResponse
{
    public long Index { get; set; }

    public List<CaRootRecord> Roots { get; set; } = [];
}

/// <summary>Body of <c>GET /v1/dashboard</c>: everything the registry's dashboard shows, in one read.</summary>
internal sealed class DashboardResponse
{
    public DateTimeOffset Now { get; set; }

    public long Index { get; set; }

    public List<DashboardService> Services { get; set; } = [];

    public List<DashboardEdge> Edges { get; set; } = [];
}

internal sealed class DashboardService
{
    public string Name { get; set; } = string.Empty;

    public long PolicyVersion { get; set; }

    public DateTimeOffset? PolicyUpdatedAt { get; set; }

    public List<DashboardInstance> Instances { get; set; } = [];
}

internal sealed class DashboardInstance
{
    public string Id { get; set; } = string.Empty;

    public string Address { get; set; } = string.Empty;

    public string? Version { get; set; }

    public string? Zone { get; set; }

    /// <summary><c>healthy</c>, or <c>held</c> when the lease has passed and the mass-expiry guard keeps it listed.</summary>
    public string Health { get; set; } = "healthy";

    /// <summary>Seconds since the last renewal.</summary>
    public double LeaseAgeSeconds { get; set; }

    public int TtlSeconds { get; set; }

    public DateTimeOffset? CertificateExpiresAt { get; set; }
}

/// <summary>Traffic from one service to one version of another, summed over the source's instances.</summary>
internal sealed class DashboardEdge
{
    public string Source { get; set; } = string.Empty;

    public string Destination { get; set; } = string.Empty;

    public string? DestinationVersion { get; set; }

    public double RequestsPerSecond { get; set; }

    /// <summary>Percentage of requests that did not fail, 0 to 100; null without requests.</summary>
    public double? SuccessPercent { get; set; }

    public double? P50Ms { get; set; }

    public double? P99Ms { get; set; }
}

/// <summary>The header carrying the watch index on every watchable response.</summary>
internal static class RegistryHeaders
{
    public const string Index = "X-Mesh-Index";
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(InstanceRegistration))]
[JsonSerializable(typeof(InstanceRecord))]
[JsonSerializable(typeof(InstancesResponse))]
[JsonSerializable(typeof(ServicesResponse))]
[JsonSerializable(typeof(PolicyResponse))]
[JsonSerializable(typeof(PolicyHistoryResponse))]
[JsonSerializable(typeof(PolicyValidationResponse))]
[JsonSerializable(typeof(CertificateSigningRequest))]
[JsonSerializable(typeof(CertificateResponse))]
[JsonSerializable(typeof(TrustBundleResponse))]
[JsonSerializable(typeof(CaRootRecord))]
[JsonSerializable(typeof(CaRootsResponse))]
[JsonSerializable(typeof(DashboardResponse))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
