namespace Mesh.Registry.Store.Sqlite;

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class RegistryStoreJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
