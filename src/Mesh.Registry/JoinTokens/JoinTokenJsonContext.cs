using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mesh.Registry;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(JoinTokenRecord))]
[JsonSerializable(typeof(JoinTokenListResponse))]
internal sealed partial class JoinTokenJsonContext : JsonSerializerContext;
