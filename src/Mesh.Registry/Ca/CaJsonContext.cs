using System.Text.Json;

namespace Mesh.Registry.Ca;

[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(CaState))]
internal sealed partial class CaJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
