using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mesh.Registry.Rollouts;

/// <summary>
/// Reads and sets a route's destinations in a stored policy document (canonical JSON), leaving everything else in it
/// as it was. Field names, route names and subset names match case-insensitively, as the configuration binder that
/// reads the document on every client does.
/// </summary>
internal static class RolloutPolicyEditor
{
    /// <summary>The route's destinations for the rollout's state: both subsets by weight while it runs, one subset once it ended.</summary>
    public static List<(string Subset, int Weight)> Target(RolloutStatus rollout) => rollout.State switch
    {
        RolloutState.Succeeded => [(rollout.Spec.Canary, 100)],
        RolloutState.RolledBack or RolloutState.Aborted => [(rollout.Spec.Stable, 100)],
        _ => [(rollout.Spec.Stable, 100 - rollout.Weight), (rollout.Spec.Canary, rollout.Weight)],
    };

    /// <summary>The document with the route's destinations replaced; null when the document has no such route.</summary>
    public static string? WithDestinations(string document, string route, List<(string Subset, int Weight)> destinations)
    {
        var root = JsonNode.Parse(document) as JsonObject;
        if (root is null || FindRoute(root, route) is not { } routeNode)
        {
            return null;
        }

        var list = new JsonArray();
        foreach (var (subset, weight) in destinations)
        {
            list.Add(new JsonObject { ["Subset"] = subset, ["Weight"] = weight });
        }

        var key = PropertyName(routeNode, "Destinations") ?? "Destinations";
        routeNode[key] = list;
        return root.ToJsonString();
    }

    /// <summary>Whether the document's route has exactly <paramref name="destinations"/> (in any order).</summary>
    public static bool HasDestinations(string? document, string route, List<(string Subset, int Weight)> destinations)
    {
        if (document is null || JsonNode.Parse(document) is not JsonObject root || FindRoute(root, route) is not { } routeNode ||
            Property(routeNode, "Destinations") is not JsonArray present || present.Count != destinations.Count)
        {
            return false;
        }

        foreach (var (subset, weight) in destinations)
        {
            var found = false;
            foreach (var d in present)
            {
                if (d is JsonObject o && Property(o, "Subset") is JsonValue s && s.TryGetValue<string>(out var name) &&
                    string.Equals(name, subset, StringComparison.OrdinalIgnoreCase) &&
                    Property(o, "Weight") is JsonValue w && w.TryGetValue<int>(out var value) && value == weight)
                {
                    found = true;
                    break;
                }
            }

            if (!found)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Whether the rollout's route (every field of it) and its two subsets read the same in both documents: a write that
    /// changed any of them was made to the rollout's route, even where the destinations it left are the rollout's.
    /// </summary>
    public static bool SameRouteAndSubsets(string? before, string? after, RolloutSpec spec)
    {
        if (before is null || after is null || JsonNode.Parse(before) is not JsonObject old || JsonNode.Parse(after) is not JsonObject now)
        {
            return before == after;
        }

        return JsonNode.DeepEquals(FindRoute(old, spec.Route), FindRoute(now, spec.Route)) &&
            JsonNode.DeepEquals(FindSubset(old, spec.Stable), FindSubset(now, spec.Stable)) &&
            JsonNode.DeepEquals(FindSubset(old, spec.Canary), FindSubset(now, spec.Canary));
    }

    public static JsonObject? FindRoute(JsonObject policy, string route)
    {
        if (Property(policy, "Routes") is not JsonArray routes)
        {
            return null;
        }

        foreach (var r in routes)
        {
            if (r is JsonObject o && Property(o, "Name") is JsonValue name && name.TryGetValue<string>(out var text) &&
                string.Equals(text, route, StringComparison.OrdinalIgnoreCase))
            {
                return o;
            }
        }

        return null;
    }

    /// <summary>A subset's label selector; null when the policy has no such subset.</summary>
    public static JsonObject? FindSubset(JsonObject policy, string subset) =>
        Property(policy, "Subsets") is JsonObject subsets ? Property(subsets, subset) as JsonObject : null;

    /// <summary>The subset's <c>version</c> label: the value instances report their traffic under.</summary>
    public static string? VersionOf(JsonObject subset) =>
        Property(subset, "version") is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    public static JsonNode? Property(JsonObject o, string name) => PropertyName(o, name) is { } key ? o[key] : null;

    private static string? PropertyName(JsonObject o, string name)
    {
        foreach (var (key, _) in o)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return key;
            }
        }

        return null;
    }
}
