using System.Text;
using System.Text.Json;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests.Documentation;

/// <summary>
/// Runs every JSON example of a document through the code that reads it in production. What a block is comes from
/// its info string, never from a guess: <c>```json</c> is app configuration with a <c>Mesh</c> section, read and
/// validated as at host start; <c>```json policy</c> is a registry policy document, read and validated as the
/// registry's <c>PUT</c> does; <c>```json registry-api</c> (a registry request or response body) and
/// <c>```json registry-config</c> (the registry's own <c>MeshRegistry</c> section) must be well-formed JSON objects.
/// Anything else is an error, so a new kind of example has to be named here before it can be written.
/// </summary>
internal static class JsonExampleChecker
{
    public const string PolicyTag = "policy";
    public const string RegistryApiTag = "registry-api";
    public const string RegistryConfigTag = "registry-config";

    private static readonly JsonDocumentOptions JsonOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Every problem of the document's JSON blocks, each as <c>file:line: message</c>.</summary>
    public static List<string> Check(MarkdownDocument document)
    {
        var problems = new List<string>();
        foreach (var block in document.CodeBlocks)
        {
            if (!block.Language.StartsWith("json", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var where = $"{document.Path}:{block.Line}";
            if (block.Language != "json")
            {
                problems.Add($"{where}: '```{block.Language}' is not checked; write '```json' with a tag ({PolicyTag}, {RegistryApiTag}, {RegistryConfigTag}) or none");
                continue;
            }

            foreach (var error in CheckBlock(block))
            {
                problems.Add($"{where}: {error}");
            }
        }

        return problems;
    }

    private static List<string> CheckBlock(MarkdownCodeBlock block)
    {
        if (block.Tags.Count > 1)
        {
            return [$"one tag at most, found {string.Join(' ', block.Tags)}"];
        }

        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(block.Code, JsonOptions);
        }
        catch (JsonException ex)
        {
            // The fence is one line above the code, and JsonException counts lines from 0.
            return [$"not valid JSON (line {block.Line + 1 + (ex.LineNumber ?? 0)}): {ex.Message}"];
        }

        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object)
            {
                return [$"expected a JSON object, found {json.RootElement.ValueKind}"];
            }

            var tag = block.Tags.Count == 0 ? null : block.Tags[0];
            return tag switch
            {
                null => CheckAppConfiguration(block.Code, json.RootElement),
                PolicyTag => CheckPolicy(block.Code),
                RegistryApiTag => [],
                RegistryConfigTag => json.RootElement.TryGetProperty("MeshRegistry", out _)
                    ? []
                    : ["a registry-config block holds a 'MeshRegistry' section"],
                _ => [$"unknown tag '{tag}'; known tags are {PolicyTag}, {RegistryApiTag}, {RegistryConfigTag}"],
            };
        }
    }

    private static List<string> CheckAppConfiguration(string code, JsonElement root)
    {
        if (!root.TryGetProperty("Mesh", out _))
        {
            return [$"an untagged json block is app configuration and holds a 'Mesh' section; tag other JSON ({PolicyTag}, {RegistryApiTag}, {RegistryConfigTag})"];
        }

        IConfigurationRoot configuration;
        try
        {
            configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(code))).Build();
        }
        catch (FormatException ex)
        {
            return [$"the JSON configuration provider refuses it: {ex.Message}"];
        }

        var options = new MeshOptions();
        MeshConfigurationReader.Read(configuration.GetSection(MeshOptions.SectionName), options);
        return PolicyValidator.Validate(options);
    }

    private static List<string> CheckPolicy(string code)
    {
        var (errors, _) = PolicyDocumentReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(code)));
        return errors;
    }
}
