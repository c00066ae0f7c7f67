using System.Globalization;
using Mesh.Registry.Api;
using Microsoft.Net.Http.Headers;

namespace Mesh.Registry.Policies;

/// <summary>
/// A policy's version as an entity tag: <c>ETag: "&lt;version&gt;"</c> on every policy answer, and <c>If-Match</c> on
/// the writes, so a writer that read version N replaces version N and nothing newer. Version 0 is the policy of a
/// service that never had one.
/// </summary>
internal static class PolicyVersionTag
{
    public static void Set(HttpResponse response, long version) => response.Headers.ETag = Format(version);

    public static string Format(long version) => string.Concat("\"", version.ToString(CultureInfo.InvariantCulture), "\"");

    /// <summary>
    /// Reads <c>If-Match</c>: absent, no expectation; one strong entity tag holding a version, that version. Anything
    /// else is a 400 (the registry issues nothing else, so a list, a weak tag or <c>*</c> is a client's mistake).
    /// </summary>
    public static bool TryReadIfMatch(HttpRequest request, out long? expected, out IResult problem)
    {
        expected = null;
        problem = Results.Empty;
        var values = request.Headers.IfMatch;
        if (values.Count == 0)
        {
            return true;
        }

        var text = values.Count == 1 ? values[0]?.Trim() : null;
        if (text is { Length: > 2 } && text[0] == '"' && text[^1] == '"' &&
            long.TryParse(text.AsSpan(1, text.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            expected = version;
            return true;
        }

        var errors = new ValidationErrors();
        errors.Add(HeaderNames.IfMatch, $"'{ApiRequest.Truncate(string.Join(", ", values.ToArray()))}' is not one policy version as an entity tag, " +
            "such as \"3\" (the ETag of the policy this write replaces)");
        problem = errors.Problem("Invalid precondition");
        return false;
    }

    /// <summary>412: the policy moved on since the writer read it. The answer carries the current version's tag.</summary>
    public static IResult Mismatch(HttpContext context, string service, long expected, long current)
    {
        Set(context.Response, current);
        return Results.Problem(statusCode: StatusCodes.Status412PreconditionFailed, title: "Policy version changed",
            detail: $"Service '{service}' has policy version {current}, not {expected} (If-Match); read it again and apply the change to version {current}.",
            extensions: new Dictionary<string, object?> { ["currentVersion"] = current });
    }
}
