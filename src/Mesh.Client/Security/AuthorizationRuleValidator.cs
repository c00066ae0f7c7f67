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

        ValidateMatch(rule.From, rule.Paths, rule.Methods, path, errors);
    }

    /// <summary>
    /// Checks what a rule matches on: callers, paths and methods. Shared with rate limit rules, which match requests
    /// the same way.
    /// </summary>
    public static void ValidateMatch(IList<string> from, IList<string> paths, IList<string> methods, string path, List<string> errors)
    {
        for (var j = 0; j < from.Count; j++)
        {
            if (from[j] != "*" && !PolicyValidator.IsValidName(from[j]))
            {
                errors.Add($"{path}:From:{j}: '{from[j]}' is not a service name or *");
            }
        }

        for (var j = 0; j < paths.Count; j++)
        {
            if (string.IsNullOrEmpty(paths[j]) || paths[j][0] != '/')
            {
                errors.Add($"{path}:Paths:{j}: '{paths[j]}' must start with '/'");
            }
            else if (PathProblem(paths[j]) is { } problem)
            {
                errors.Add($"{path}:Paths:{j}: '{paths[j]}' {problem}");
            }
        }

        ValidationRules.Methods(methods, $"{path}:Methods", errors);
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
