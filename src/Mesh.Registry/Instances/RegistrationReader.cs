using System.Text.Json;
using Mesh.Client;
using Mesh.Client.Registry;
using Mesh.Registry.Api;
using Mesh.Registry.Store;

namespace Mesh.Registry.Instances;

/// <summary>Reads and checks a registration body, reporting every error by its field.</summary>
internal static class RegistrationReader
{
    public static Registration? Read(byte[] body, ValidationErrors errors, out TrafficStats? stats)
    {
        stats = null;
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            errors.Add("body", "not valid UTF-8");
            return null;
        }

        InstanceRegistration? r;
        try
        {
            r = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.InstanceRegistration);
        }
        catch (JsonException ex)
        {
            errors.Add(ApiRequest.JsonField(ex.Path), ex.Message);
            return null;
        }

        if (r is null)
        {
            errors.Add("body", "expected a JSON object");
            return null;
        }

        string? address = null;
        if (string.IsNullOrEmpty(r.Address))
        {
            errors.Add("address", "required: the absolute http or https URL the instance serves at, e.g. http://10.0.0.5:8080");
        }
        else if (r.Address.Length > RegistryDefaults.MaxAddressLength || !Uri.TryCreate(r.Address, UriKind.Absolute, out var uri) ||
                 (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || string.IsNullOrEmpty(uri.Host) ||
                 uri.UserInfo.Length > 0 || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            errors.Add("address", $"'{ApiRequest.Truncate(r.Address)}' must be an absolute http or https URL without a path, query or user info");
        }
        else
        {
            address = uri.GetLeftPart(UriPartial.Authority);
        }

        if (r.Version is not null && !MeshPolicyValidation.IsValidName(r.Version))
        {
            errors.Add("version", $"'{ApiRequest.Truncate(r.Version)}' is not a valid version (letters, digits, '-', '_' and '.', at most 63 characters)");
        }

        if (r.Zone is not null && !MeshPolicyValidation.IsValidName(r.Zone))
        {
            errors.Add("zone", $"'{ApiRequest.Truncate(r.Zone)}' is not a valid zone (letters, digits, '-', '_' and '.', at most 63 characters)");
        }

        // Subset selectors match label keys ignoring case, so two keys that differ only by case would be one label
        // read two ways: refused here.
        var labels = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (r.Labels is not null)
        {
            if (r.Labels.Count > RegistryDefaults.MaxLabels)
            {
                errors.Add("labels", $"{r.Labels.Count} labels; at most {RegistryDefaults.MaxLabels}");
            }
            else
            {
                foreach (var (key, value) in r.Labels)
                {
                    if (!IsLabelKey(key))
                    {
                        errors.Add("labels", $"'{ApiRequest.Truncate(key)}' is not a valid label key (letters, digits, '-', '_', '.' and '/', at most 128 characters)");
                    }
                    else if (value is null || value.Length > RegistryDefaults.MaxLabelValueLength || value.Any(char.IsControl))
                    {
                        errors.Add($"labels.{key}", $"must be a string of at most {RegistryDefaults.MaxLabelValueLength} characters without control characters");
                    }
                    else if (!labels.TryAdd(key, value))
                    {
                        errors.Add($"labels.{key}", "the same key as another label but for letter case; label keys ignore case");
                    }
                }
            }
        }

        if (labels.TryGetValue(MeshRegistryLabels.MetricsAddress, out var metrics) && !IsMetricsAddress(metrics))
        {
            errors.Add($"labels.{MeshRegistryLabels.MetricsAddress}",
                $"'{ApiRequest.Truncate(metrics)}' must be the absolute http or https URL of the metrics listener, without a path, query or user info");
        }

        if (r.TtlSeconds is < RegistryDefaults.MinTtlSeconds or > RegistryDefaults.MaxTtlSeconds)
        {
            errors.Add("ttlSeconds", $"{r.TtlSeconds} must be between {RegistryDefaults.MinTtlSeconds} and {RegistryDefaults.MaxTtlSeconds}");
        }

        if (r.Stats is not null)
        {
            CheckStats(r.Stats, errors);
        }

        stats = errors.Any ? null : r.Stats;
        return errors.Any ? null : new Registration(address!, r.Version, r.Zone, labels, r.TtlSeconds);
    }

    /// <summary>Traffic numbers are shown to operators: names must be names and numbers must be sane, or the renewal is refused.</summary>
    private static void CheckStats(TrafficStats stats, ValidationErrors errors)
    {
        if (!double.IsFinite(stats.WindowSeconds) || stats.WindowSeconds <= 0 || stats.WindowSeconds > RegistryDefaults.MaxTtlSeconds)
        {
            errors.Add("stats.windowSeconds", $"must be more than 0 and at most {RegistryDefaults.MaxTtlSeconds}");
        }

        var destinations = stats.Destinations ?? [];
        if (destinations.Count > RegistryDefaults.MaxStatsDestinations)
        {
            errors.Add("stats.destinations", $"{destinations.Count} destinations; at most {RegistryDefaults.MaxStatsDestinations}");
            return;
        }

        for (var i = 0; i < destinations.Count; i++)
        {
            var path = $"stats.destinations[{i}]";
            var d = destinations[i];
            if (d is null)
            {
                errors.Add(path, "must be an object");
                continue;
            }

            if (!MeshPolicyValidation.IsValidName(d.Service))
            {
                errors.Add($"{path}.service", $"'{ApiRequest.Truncate(d.Service ?? string.Empty)}' is not a valid service name");
            }
            else
            {
                // Service names ignore case; the dashboard's edges and a rollout's traffic window know them in lower case.
                d.Service = RegistryNames.Service(d.Service);
            }

            if (d.Version is not null && !MeshPolicyValidation.IsValidName(d.Version))
            {
                errors.Add($"{path}.version", $"'{ApiRequest.Truncate(d.Version)}' is not a valid version");
            }

            if (d.Requests is < 0 or > RegistryDefaults.MaxStatsCount)
            {
                errors.Add($"{path}.requests", $"{d.Requests} must be from 0 to {RegistryDefaults.MaxStatsCount}");
            }

            if (d.Errors < 0 || d.Errors > d.Requests)
            {
                errors.Add($"{path}.errors", $"{d.Errors} must be from 0 to requests ({d.Requests})");
            }

            CheckMilliseconds(errors, $"{path}.p50Ms", d.P50Ms);
            CheckMilliseconds(errors, $"{path}.p99Ms", d.P99Ms);
        }
    }

    private static void CheckMilliseconds(ValidationErrors errors, string path, double? value)
    {
        if (value is { } v && (!double.IsFinite(v) || v < 0 || v > RegistryDefaults.MaxStatsMilliseconds))
        {
            errors.Add(path, $"must be from 0 to {RegistryDefaults.MaxStatsMilliseconds} ms");
        }
    }

    private static bool IsMetricsAddress(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) &&
        !string.IsNullOrEmpty(uri.Host) && uri.UserInfo.Length == 0 && uri.AbsolutePath == "/" && uri.Query.Length == 0 && uri.Fragment.Length == 0;

    private static bool IsLabelKey(string key) =>
        key.Length is > 0 and <= 128 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/');
}
