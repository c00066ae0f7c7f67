using System.Text.Json;

namespace Mesh.Client.Registry;

internal sealed class RegistryCacheEntry
{
    public List<InstanceRecord>? Instances { get; set; }

    public JsonElement? Policy { get; set; }
}
