using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Registry.Rollouts;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RolloutStatus))]
internal sealed partial class RolloutJsonContext : JsonSerializerContext;
