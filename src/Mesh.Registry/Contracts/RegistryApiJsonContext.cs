using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Registry.Contracts;

// The bodies only the registry writes (admin calls, the dashboard). What workloads also send or read is serialized
// with RegistryJsonContext, compiled here from Mesh.Client's source; the options here are the same.

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PolicyHistoryResponse))]
[JsonSerializable(typeof(PolicyValidationResponse))]
[JsonSerializable(typeof(CaRootRecord))]
[JsonSerializable(typeof(CaRootsResponse))]
[JsonSerializable(typeof(DashboardResponse))]
internal sealed partial class RegistryApiJsonContext : JsonSerializerContext;
