using System.Text.Json;

namespace Mesh.AspNetCore.Security;

/// <summary>The serializer options of the authorization middleware's problem bodies (reflection-based, built once).</summary>
internal static class AuthorizationJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };
}
