using System.Text.Json.Nodes;
using Mesh.Registry.Api;

namespace Mesh.Registry.Rollouts;

/// <summary>
/// Checks a rollout against the service's current policy: the route and both subsets must be there, and each subset
/// must select a <c>version</c> label (the instances report their traffic by version, so that is what gets judged).
/// </summary>
internal static class RolloutSpecValidator
{
    /// <summary>
    /// The stable and canary versions; null with every reason in <paramref name="errors"/>, or when it held errors of
    /// the spec's shape already (a field left empty there is not looked for again here).
    /// </summary>
    public static (string Stable, string Canary)? Validate(RolloutSpec spec, string service, string? policy, ValidationErrors errors)
    {
        if (policy is null || JsonNode.Parse(policy) is not JsonObject root)
        {
            errors.Add("Route", $"service '{service}' has no policy; PUT one with the route and both subsets first");
            return null;
        }

        if (spec.Route.Length > 0 && RolloutPolicyEditor.FindRoute(root, spec.Route) is null)
        {
            errors.Add("Route", $"no route named '{spec.Route}' in the policy of '{service}'");
        }

        var stable = Version(root, spec.Stable, "Stable", service, errors);
        var canary = Version(root, spec.Canary, "Canary", service, errors);
        // The same subset named twice is reported by the reader already.
        if (stable is not null && canary is not null && string.Equals(stable, canary, StringComparison.Ordinal) &&
            !string.Equals(spec.Stable, spec.Canary, StringComparison.Ordinal))
        {
            errors.Add("Canary", $"subset '{spec.Canary}' selects version '{canary}', as the stable subset does; their traffic could not be told apart");
        }

        return errors.Any ? null : (stable!, canary!);
    }

    private static string? Version(JsonObject policy, string subset, string field, string service, ValidationErrors errors)
    {
        if (subset.Length == 0)
        {
            return null;
        }

        if (RolloutPolicyEditor.FindSubset(policy, subset) is not { } labels)
        {
            errors.Add(field, $"no subset '{subset}' in the policy of '{service}'");
            return null;
        }

        if (RolloutPolicyEditor.VersionOf(labels) is not { Length: > 0 } version)
        {
            errors.Add(field, $"subset '{subset}' selects no 'version' label; traffic is reported and judged by version");
            return null;
        }

        return version;
    }
}
