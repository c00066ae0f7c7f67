namespace Mesh.Registry.Store.Sqlite;

/// <summary>Instance labels as a compact JSON object in the store.</summary>
internal static class LabelsJson
{
    public static string Write(Dictionary<string, string> labels) =>
        System.Text.Json.JsonSerializer.Serialize(labels, RegistryStoreJsonContext.Default.DictionaryStringString);

    public static Dictionary<string, string> Parse(string json) =>
        new(System.Text.Json.JsonSerializer.Deserialize(json, RegistryStoreJsonContext.Default.DictionaryStringString) ?? [], StringComparer.Ordinal);
}
