using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace Mesh.Client.Configuration;

/// <summary>
/// Reads a registry policy document (the JSON of <c>Mesh:Services:&lt;name&gt;</c> without <c>Endpoints</c>) through
/// the same configuration reader and validator as <c>appsettings.json</c>, so both accept exactly the same documents
/// and report errors with the same paths (<c>Routes:1:Destinations</c>).
/// </summary>
internal static class PolicyDocumentReader
{
    public static (List<string> Errors, ServicePolicyOptions? Policy) Read(Stream json)
    {
        var pairs = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var errors = new List<string>();
        try
        {
            // Comments and trailing commas, as the JSON configuration provider reads appsettings.json.
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxDepth, CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return ([$"document: expected a JSON object, found {doc.RootElement.ValueKind}"], null);
            }

            var keyChars = 0L;
            Flatten(doc.RootElement, null, pairs, errors, ref keyChars);
            if (keyChars > MaxKeyChars)
            {
                return (errors, null);
            }
        }
        catch (JsonException ex)
        {
            return ([$"document: not valid JSON: {ex.Message}"], null);
        }
        catch (InvalidOperationException ex)
        {
            // JsonDocument checks strings' UTF-8 only when they are read: invalid bytes surface here, not above.
            return ([$"document: not valid UTF-8 text: {ex.Message}"], null);
        }

        using var document = new ConfigurationRoot([new PolicyConfigurationProvider(pairs)]);

        // Keys given twice or unusable names were left out of the pairs: the rest is read too, so every error comes at once.
        var policy = new ServicePolicyOptions();
        MeshConfigurationReader.ReadServicePolicy(new RootSection(document), policy, errors, allowEndpoints: false);
        PolicyValidator.ValidatePolicy(policy, string.Empty, errors);
        return (errors, errors.Count == 0 ? policy : null);
    }

    /// <summary>Policies are a few levels deep; a deeper document is malformed or hostile.</summary>
    private const int MaxDepth = 16;

    /// <summary>
    /// The most characters the flattened keys of one document may hold together. Every value's key repeats the names
    /// of all its parents, so a long name above many values (one 100 KB name over an array of 50000 zeros) would make
    /// gigabytes of keys from a document the size limit lets in; real policies' keys hold a few times their bytes.
    /// </summary>
    internal const long MaxKeyChars = 16L * 1024 * 1024;

    /// <summary>Flattens JSON into configuration keys the way the JSON configuration provider does.</summary>
    private static void Flatten(JsonElement element, string? path, Dictionary<string, string?> pairs, List<string> errors, ref long keyChars)
    {
        if (path is not null && (keyChars += path.Length) > MaxKeyChars)
        {
            if (keyChars - path.Length <= MaxKeyChars)
            {
                errors.Add($"document: its keys (each value's path of names) hold more than {MaxKeyChars} characters together");
            }

            return;
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                // Configuration keys ignore case, so "Routes" and "routes" in one object would silently merge.
                var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                foreach (var property in element.EnumerateObject())
                {
                    if (keyChars > MaxKeyChars)
                    {
                        break;
                    }

                    if (property.Name.Length == 0 || property.Name.Contains(':', StringComparison.Ordinal))
                    {
                        errors.Add($"{path ?? "document"}: invalid property name '{property.Name}'");
                        continue;
                    }

                    var key = path is null ? property.Name : $"{path}:{property.Name}";
                    if (!names.Add(property.Name))
                    {
                        errors.Add($"{key}: given more than once");
                        continue;
                    }

                    Flatten(property.Value, key, pairs, errors, ref keyChars);
                }

                if (path is not null && !element.EnumerateObject().Any())
                {
                    pairs[path] = null;
                }

                break;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (keyChars > MaxKeyChars)
                    {
                        break;
                    }

                    Flatten(item, $"{path}:{index++}", pairs, errors, ref keyChars);
                }

                break;
            case JsonValueKind.Null:
                pairs[path!] = string.Empty;
                break;
            case JsonValueKind.String:
                pairs[path!] = element.GetString();
                break;
            default:
                pairs[path!] = element.GetRawText();
                break;
        }
    }

    /// <summary>A configuration root seen as a section with an empty path, so child paths carry no prefix.</summary>
    private sealed class RootSection(IConfigurationRoot root) : IConfigurationSection
    {
        public string? this[string key]
        {
            get => root[key];
            set => root[key] = value;
        }

        public string Key => string.Empty;

        public string Path => string.Empty;

        public string? Value
        {
            get => null;
            set => throw new NotSupportedException();
        }

        public IEnumerable<IConfigurationSection> GetChildren() => root.GetChildren();

        public IChangeToken GetReloadToken() => root.GetReloadToken();

        public IConfigurationSection GetSection(string key) => root.GetSection(key);
    }
}
