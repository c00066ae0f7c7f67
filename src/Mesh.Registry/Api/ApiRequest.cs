using System.Globalization;
using Mesh.Client;

namespace Mesh.Registry.Api;

/// <summary>Reads what the API's calls share: service names and ids from the route, whole numbers from the query.</summary>
internal static class ApiRequest
{
    /// <summary>Checks a service name from the route; on success the name as the registry keeps it (lower case).</summary>
    public static bool TryReadService(string service, out string name, out IResult problem)
    {
        var errors = new ValidationErrors();
        CheckName(errors, "service", service, "service name");
        name = errors.Any ? string.Empty : RegistryNames.Service(service);
        problem = errors.Any ? errors.Problem("Invalid service") : Results.Empty;
        return !errors.Any;
    }

    public static void CheckName(ValidationErrors errors, string field, string value, string what)
    {
        if (!MeshPolicyValidation.IsValidName(value))
        {
            errors.Add(field, $"'{Truncate(value)}' is not a valid {what} (letters, digits, '-', '_' and '.', at most 63 characters)");
        }
    }

    /// <summary>A query parameter as a whole number from <paramref name="min"/> to <paramref name="max"/>; null when absent or wrong (then in <paramref name="errors"/>).</summary>
    public static long? ReadLong(HttpRequest request, string name, ValidationErrors errors, long min, long max)
    {
        if (Single(request, name, errors) is not { } text)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add(name, $"'{Truncate(text)}' must be a whole number from {min} to {max}");
            return null;
        }

        return value;
    }

    /// <summary>A query parameter given at most once; null when absent.</summary>
    public static string? Single(HttpRequest request, string name, ValidationErrors errors)
    {
        var values = request.Query[name];
        if (values.Count > 1)
        {
            errors.Add(name, "given more than once");
            return null;
        }

        return values.Count == 1 ? values[0] : null;
    }

    /// <summary>A field named by a <see cref="System.Text.Json.JsonException"/>'s path, as problems name fields.</summary>
    public static string JsonField(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return "body";
        }

        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
    }

    /// <summary>Caller-supplied text as it may be quoted back in a problem.</summary>
    public static string Truncate(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 80), "…");
}
