using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Client.Registry;

/// <summary>Body of <c>GET /v1/policies/{service}</c>; <see cref="Document"/> is null while the service has none.</summary>
public sealed class PolicyResponse
{
    public string Service { get; set; } = string.Empty;

    /// <summary>The policy's version, 0 when there is none.</summary>
    public long Version { get; set; }

    /// <summary>The watch index of the last change.</summary>
    public long Index { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public JsonElement? Document { get; set; }

    public DateTimeOffset? UpdatedAt { get; set; }
}
