using Mesh.Client.Configuration;

namespace Mesh.Client.Routing;

/// <summary>Checks a route's <c>Mirror</c>: a subset the service defines, and the share of requests copied to it.</summary>
internal static class MirrorValidator
{
    public static void Validate(MirrorOptions? mirror, IDictionary<string, IDictionary<string, string>> subsets, string path, List<string> errors)
    {
        if (mirror is null)
        {
            return;
        }

        if (mirror.Subset is null)
        {
            errors.Add($"{path}:Subset: required");
        }
        else if (!subsets.ContainsKey(mirror.Subset))
        {
            errors.Add($"{path}:Subset: unknown subset '{mirror.Subset}'{RouteValidator.KnownSubsets(subsets)}");
        }

        ValidationRules.Percentage(mirror.Percentage, $"{path}:Percentage", errors);
    }
}
