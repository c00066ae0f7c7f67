using System.Text.Json;
using Mesh.Client;
using Mesh.Registry.Api;

namespace Mesh.Registry.Policies;

/// <summary>Policy documents: read and validated with the clients' own code, canonical form for storage, errors as a problem's <c>errors</c>.</summary>
internal static class PolicyDocument
{
    /// <summary>Reads and validates a policy document; on success the canonical (compact) JSON to store.</summary>
    public static async Task<(string? Document, IResult? Problem)> ReadAsync(HttpContext context, ILogger logger)
    {
        var (body, bodyProblem) = await RequestBody.ReadAsync(context.Request, RegistryDefaults.MaxPolicyBytes, context.RequestAborted);
        if (bodyProblem is not null)
        {
            return (null, bodyProblem);
        }

        // JSON is UTF-8; refusing anything else here keeps malformed text away from the reader and the store.
        var errors = System.Text.Unicode.Utf8.IsValid(body) ? Validate(body!, logger) : ["document: not valid UTF-8"];
        if (errors.Count > 0)
        {
            return (null, Results.ValidationProblem(ToProblemErrors(errors), title: "Invalid policy document"));
        }

        return (Canonical(body!), null);
    }

    /// <summary>The client's own reader and validator: a document the registry accepts is one every client accepts.</summary>
    public static List<string> Validate(byte[] body, ILogger logger)
    {
        try
        {
            using var stream = new MemoryStream(body, writable: false);
            return [.. MeshPolicyValidation.Validate(stream)];
        }
#pragma warning disable CA1031 // a reader bug must be a 400 that names it, never a 500 or a stored document
        catch (Exception ex)
#pragma warning restore CA1031
        {
            logger.LogWarning(ex, "The policy reader failed on a document; refusing it");
            return [$"document: could not be read ({ex.GetType().Name})"];
        }
    }

    /// <summary>The document as compact JSON (comments and whitespace dropped), the form that is stored and compared.</summary>
    public static string Canonical(byte[] json)
    {
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64, CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
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
