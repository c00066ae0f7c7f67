using System.Text.Json;
using System.Text.Json.Serialization;
using Mesh.Client.Registry;

namespace Mesh.Registry.Contracts;

// Everything the registry's HTTP API reads and writes. The bodies workloads also send or read are Mesh.Client's public
// wire contracts, so both sides share one definition; the admin-only and dashboard bodies are the registry's own. The
// options are those of Mesh.Client's own context: camelCase, nulls left out.

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
internal sealed partial class RegistryApiJsonContext : JsonSerializerContext;
