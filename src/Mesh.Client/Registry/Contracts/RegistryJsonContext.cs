using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Client.Registry;

// The registry's wire contracts, shared by the registry and its clients so both sides read and write one definition.
// JSON is camelCase; unknown members are ignored on read so either side can add fields first.

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(InstanceRegistration))]
[JsonSerializable(typeof(InstanceRecord))]
[JsonSerializable(typeof(InstancesResponse))]
[JsonSerializable(typeof(ServicesResponse))]
[JsonSerializable(typeof(PolicyResponse))]
[JsonSerializable(typeof(CertificateSigningRequest))]
[JsonSerializable(typeof(CertificateResponse))]
[JsonSerializable(typeof(TrustBundleResponse))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
