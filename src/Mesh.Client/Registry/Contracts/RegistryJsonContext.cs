using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Client.Registry;

// The JSON metadata of the registry's wire contracts, with the options both sides use: camelCase, nulls left out;
// unknown members are ignored on read so either side can add fields first. Mesh.Registry compiles this same file
// (a link in its project), so the registry and its clients serialize the public contracts one way without a copy
// and without making the generated metadata, which changes with every field type, part of the public API.
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(InstanceRegistration))]
[JsonSerializable(typeof(InstanceRecord))]
[JsonSerializable(typeof(InstancesResponse))]
[JsonSerializable(typeof(ServicesResponse))]
[JsonSerializable(typeof(PolicyResponse))]
[JsonSerializable(typeof(ServicesWatchRequest))]
[JsonSerializable(typeof(ServicesWatchResponse))]
[JsonSerializable(typeof(CertificateSigningRequest))]
[JsonSerializable(typeof(CertificateResponse))]
[JsonSerializable(typeof(TrustBundleResponse))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
