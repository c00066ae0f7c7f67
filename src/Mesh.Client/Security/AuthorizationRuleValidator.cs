using Mesh.Client.Configuration;

namespace Mesh.Client.Security;

/// <summary>Checks one <c>Authorization</c> rule, mesh-wide or a service's: action, callers, paths and methods.</summary>
internal static class AuthorizationRuleValidator
{
    public static void Validate(AuthorizationRuleOptions rule, string path, List<string> errors)
    {
        if (!Enum.IsDefined(rule.Action))
        {
            errors.Add($"{path}:Action: '{rule.Action}' is not Allow or Deny");
        }

        for (var j = 0; j < rule.From.Count; j++)
        {
            if (rule.From[j] != "*" && !PolicyValidator.IsValidName(rule.From[j]))
            {
                errors.Add($"{path}:From:{j}: '{rule.From[j]}' is not a service name or *");
            }
        }

        for (var j = 0; j < rule.Paths.Count; j++)
        {
            if (string.IsNullOrEmpty(rule.Paths[j]) || rule.Paths[j][0] != '/')
            {
                errors.Add($"{path}:Paths:{j}: '{rule.Paths[j]}' must start with '/'");
            }
            else if (PathProblem(rule.Paths[j]) is { } problem)
            {
                errors.Add($"{path}:Paths:{j}: '{rule.Paths[j]}' {problem}");
            }
        }

        ValidationRules.Methods(rule.Methods, $"{path}:Methods", errors);
    }

    /// <summary>
    /// Why an authorization path is not in the one spelling rules are matched in (requests are compared after the same
    /// canonicalization, ignoring case), or null. A rule in another spelling would look stricter than it is.
    /// </summary>
    private static string? PathProblem(string value)
    {
        var body = value.EndsWith("/*", StringComparison.Ordinal) ? value[..^2] : value;
        if (body.Contains('*', StringComparison.Ordinal))
        {
            return "may use '*' only as its last segment ('/x/*' for everything under /x)";
        }

        foreach (var c in body)
        {
            if (c is '%' or '\\' or '?' or '#' || char.IsControl(c))
            {
                return $"must be a decoded path without '%', '\\', '?', '#' or control characters (write '/a b', not '/a%20b')";
            }
        }

        if (body.Contains("//", StringComparison.Ordinal))
        {
            return "must not contain '//' (duplicate slashes are ignored when matching)";
        }

        if (body.Length > 1 && body.EndsWith('/'))
        {
            return $"must not end with '/' (a trailing slash is ignored when matching: write '{body.TrimEnd('/')}', or '{body}*' for everything under it)";
        }

        foreach (var segment in body.Split('/'))
        {
            if (segment is "." or "..")
            {
                return "must not contain '.' or '..' segments";
            }
        }

        return null;
    }
}
