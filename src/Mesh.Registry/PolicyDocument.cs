using System.Text.Json;

namespace Mesh.Registry;

/// <summary>Policy documents: canonical form for storage, and validation errors as a problem's <c>errors</c>.</summary>
internal static class PolicyDocument
{
    /// <summary>The document as compact JSON (comments and whitespace dropped), the form that is stored and compared.</summary>
    public static string Canonical(byte[] json)
    {
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64, CommentHandling = JsonCommentHandling.Skip });
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            doc.RootElement.WriteTo(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Groups "path: message" lines by path, the shape of a validation problem's <c>errors</c>.</summary>
    public static Dictionary<string, string[]> ToProblemErrors(List<string> errors)
    {
        var grouped = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var e in errors)
        {
            var split = e.IndexOf(": ", StringComparison.Ordinal);
            var key = split > 0 ? e[..split] : "document";
            var message = split > 0 ? e[(split + 2)..] : e;
            if (!grouped.TryGetValue(key, out var list))
            {
                grouped[key] = list = [];
            }

            list.Add(message);
        }

        return grouped.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal);
    }
}
