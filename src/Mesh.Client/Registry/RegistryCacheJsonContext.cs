using System.Text.Json;

namespace Mesh.Client.Registry;

[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RegistryCache))]
internal sealed partial class RegistryCacheJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
