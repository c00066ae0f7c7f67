using System.Globalization;
using System.Text.Json.Serialization.Metadata;
using Mesh.Client.Registry;

namespace Mesh.Registry.Api;

internal static class ApiResponse
{
    /// <summary>JSON with the index the answer is current for in <c>X-Mesh-Index</c>, which a watch resumes from.</summary>
    public static IResult Json<T>(HttpContext context, T value, long index, JsonTypeInfo<T> type, int status = StatusCodes.Status200OK)
    {
        context.Response.Headers[RegistryHeaders.Index] = index.ToString(CultureInfo.InvariantCulture);
        return Results.Json(value, type, statusCode: status);
    }
}
