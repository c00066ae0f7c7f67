using System.Globalization;
using System.Text.Json;
using Mesh.Registry.Api;

namespace Mesh.Registry.Rollouts;

/// <summary>
/// Reads a rollout request body field by field, so that every wrong field is reported with its path at once (a
/// serializer stops at the first), and unknown fields are errors, as they are in a policy. Names match case-insensitively.
/// </summary>
internal static class RolloutSpecReader
{
    public const int MaxSteps = 20;

    private static readonly TimeSpan MaxStepInterval = TimeSpan.FromHours(24);

    /// <summary>
    /// The spec as far as it could be read, its wrong fields in <paramref name="errors"/> (so that the spec's errors
    /// against the policy can be added to them); null when the body is not a JSON object at all.
    /// </summary>
    public static RolloutSpec? Read(byte[] body, ValidationErrors errors)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            errors.Add("body", $"not valid JSON: {ex.Message}");
            return null;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                errors.Add("body", "must be a JSON object");
                return null;
            }

            var spec = new RolloutSpec();
            bool route = false, stable = false, canary = false, steps = false, interval = false;
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Name.ToUpperInvariant())
                {
                    case "ROUTE":
                        spec.Route = Text(p, "Route", errors) ?? string.Empty;
                        route = true;
                        break;
                    case "STABLE":
                        spec.Stable = Text(p, "Stable", errors) ?? string.Empty;
                        stable = true;
                        break;
                    case "CANARY":
                        spec.Canary = Text(p, "Canary", errors) ?? string.Empty;
                        canary = true;
                        break;
                    case "STEPS":
                        spec.Steps = ReadSteps(p.Value, errors);
                        steps = true;
                        break;
                    case "STEPINTERVAL":
                        spec.StepInterval = ReadInterval(p.Value, errors);
                        interval = true;
                        break;
                    case "ANALYSIS":
                        spec.Analysis = ReadAnalysis(p.Value, errors);
                        break;
                    default:
                        errors.Add(p.Name, "unknown field (expected Route, Stable, Canary, Steps, StepInterval, Analysis)");
                        break;
                }
            }

            Require(route, "Route", errors);
            Require(stable, "Stable", errors);
            Require(canary, "Canary", errors);
            Require(steps, "Steps", errors);
            Require(interval, "StepInterval", errors);
            if (stable && canary && spec.Stable.Length > 0 && spec.Stable == spec.Canary)
            {
                errors.Add("Canary", $"is the stable subset '{spec.Stable}'; a rollout moves traffic between two subsets");
            }

            return spec;
        }
    }

    private static void Require(bool present, string field, ValidationErrors errors)
    {
        if (!present)
        {
            errors.Add(field, "required");
        }
    }

    private static string? Text(JsonProperty p, string field, ValidationErrors errors)
    {
        if (p.Value.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(p.Value.GetString()))
        {
            errors.Add(field, "must be a non-empty string");
            return null;
        }

        return p.Value.GetString();
    }

    private static List<int> ReadSteps(JsonElement value, ValidationErrors errors)
    {
        var steps = new List<int>();
        if (value.ValueKind != JsonValueKind.Array)
        {
            errors.Add("Steps", "must be an array of canary weights, e.g. [5, 25, 50, 100]");
            return steps;
        }

        var count = value.GetArrayLength();
        if (count == 0 || count > MaxSteps)
        {
            errors.Add("Steps", $"must have from 1 to {MaxSteps} steps, has {count}");
            return steps;
        }

        var i = 0;
        int? previous = null;
        foreach (var step in value.EnumerateArray())
        {
            var path = $"Steps[{i}]";
            if (step.ValueKind != JsonValueKind.Number || !step.TryGetInt32(out var weight))
            {
                errors.Add(path, "must be a whole number from 1 to 100");
            }
            else if (weight is < 1 or > 100)
            {
                errors.Add(path, $"{weight} is not from 1 to 100");
            }
            else
            {
                if (previous is { } p && weight <= p)
                {
                    errors.Add(path, $"{weight} does not come after {p}: steps must ascend");
                }

                if (i == count - 1 && weight != 100)
                {
                    errors.Add(path, $"the last step is {weight}; it must be 100, so that a passed rollout ends with the canary carrying everything");
                }

                previous = weight;
                steps.Add(weight);
            }

            i++;
        }

        return steps;
    }

    private static TimeSpan ReadInterval(JsonElement value, ValidationErrors errors)
    {
        if (value.ValueKind != JsonValueKind.String ||
            !TimeSpan.TryParse(value.GetString(), CultureInfo.InvariantCulture, out var interval))
        {
            errors.Add("StepInterval", "must be a duration such as \"00:00:30\"");
            return TimeSpan.Zero;
        }

        // The driver looks at rollouts once a period: a shorter interval could not be kept.
        if (interval < RolloutDriver.Period || interval > MaxStepInterval)
        {
            errors.Add("StepInterval", $"{interval} must be from {RolloutDriver.Period} (rollouts are looked at once a second) to {MaxStepInterval}");
        }

        return interval;
    }

    private static RolloutAnalysis ReadAnalysis(JsonElement value, ValidationErrors errors)
    {
        var analysis = new RolloutAnalysis();
        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add("Analysis", "must be an object");
            return analysis;
        }

        foreach (var p in value.EnumerateObject())
        {
            switch (p.Name.ToUpperInvariant())
            {
                case "MINSUCCESSRATE":
                    analysis.MinSuccessRate = Number(p.Value, "Analysis.MinSuccessRate", 0, 100, "a percentage from 0 to 100", errors) ?? analysis.MinSuccessRate;
                    break;
                case "MAXP99MS":
                    analysis.MaxP99Ms = NullableNumber(p.Value, "Analysis.MaxP99Ms", double.Epsilon, 3_600_000, "milliseconds, more than 0", errors);
                    break;
                case "MAXP99RATIO":
                    analysis.MaxP99Ratio = NullableNumber(p.Value, "Analysis.MaxP99Ratio", 1, 1000,
                        "a multiple of the stable p99 from 1 to 1000 (below 1 the canary would have to be faster than stable)", errors);
                    break;
                case "MINREQUESTS":
                    if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt64(out var min) || min is < 1 or > 1_000_000_000)
                    {
                        errors.Add("Analysis.MinRequests", "must be a whole number from 1 to 1000000000");
                    }
                    else
                    {
                        analysis.MinRequests = min;
                    }

                    break;
                default:
                    errors.Add($"Analysis.{p.Name}", "unknown field (expected MinSuccessRate, MaxP99Ms, MaxP99Ratio, MinRequests)");
                    break;
            }
        }

        return analysis;
    }

    private static double? NullableNumber(JsonElement value, string path, double min, double max, string what, ValidationErrors errors) =>
        value.ValueKind == JsonValueKind.Null ? null : Number(value, path, min, max, what, errors);

    private static double? Number(JsonElement value, string path, double min, double max, string what, ValidationErrors errors)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !double.IsFinite(number) || number < min || number > max)
        {
            errors.Add(path, $"must be {what}");
            return null;
        }

        return number;
    }
}
