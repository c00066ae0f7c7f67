namespace Mesh.Registry;

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class RegistryStoreJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
