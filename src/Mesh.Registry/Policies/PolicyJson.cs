using System.Text.Json;

namespace Mesh.Registry.Policies;

internal static class PolicyJson
{
    /// <summary>A stored document (canonical JSON) as it is sent back; null for a deletion or no policy.</summary>
    public static JsonElement? Parse(string? document)
    {
        if (document is null)
        {
            return null;
        }

        using var doc = JsonDocument.Parse(document);
        return doc.RootElement.Clone();
    }
}
