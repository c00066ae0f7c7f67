using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Registry.Contracts;

internal sealed class PolicyVersionRecord
{
    public long Version { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The document of that version; null for a deletion.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public JsonElement? Document { get; set; }

    /// <summary>When this version was made by a rollback, the version it restored.</summary>
    public long? RollbackOf { get; set; }
}
