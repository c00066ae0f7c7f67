using Mesh.Client.Configuration;
using Mesh.Client.Faults;
using Mesh.Client.Resilience;

namespace Mesh.Client.Routing;

/// <summary>
/// Checks a service's <c>Routes</c>: unique names, the match, destinations whose weights sum to 100 over subsets the
/// service defines, and the timeout; a route's retry, fault and mirror have their own validators.
/// </summary>
internal static class RouteValidator
{
    public static void Validate(IList<RouteOptions> routes, IDictionary<string, IDictionary<string, string>> subsets, string path, List<string> errors)
    {
        var routeNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < routes.Count; i++)
        {
            var route = routes[i];
            var routePath = $"{path}:{i}";
            if (route is null)
            {
                errors.Add($"{routePath}: missing route");
                continue;
            }

            // An unnamed route is named route-<index> (see ServiceModel), so that name is taken too.
            if (route.Name is { } routeName)
            {
                if (!routeNames.Add(routeName))
                {
                    errors.Add($"{routePath}:Name: '{routeName}' is used by an earlier route");
                }
            }
            else if (!routeNames.Add($"route-{i}"))
            {
                errors.Add($"{routePath}: its default name 'route-{i}' is used by an earlier route; give it a Name");
            }

            ValidateRoute(route, subsets, routePath, errors);
        }
    }

    /// <summary>The hint an unknown-subset error ends with.</summary>
    public static string KnownSubsets(IDictionary<string, IDictionary<string, string>> subsets) =>
        subsets.Count == 0 ? "; the service defines no subsets" : $"; known subsets are {string.Join(", ", subsets.Keys)}";

    private static void ValidateRoute(RouteOptions route, IDictionary<string, IDictionary<string, string>> subsets, string path, List<string> errors)
    {
        if (route.Match is { } match)
        {
            ValidateMatch(match, $"{path}:Match", errors);
        }

        if (route.Destinations.Count > 0)
        {
            ValidateDestinations(route.Destinations, subsets, $"{path}:Destinations", errors);
        }

        if (route.Timeout is { } timeout)
        {
            ValidationRules.Positive(timeout, $"{path}:Timeout", errors);
        }

        RetryValidator.Validate(route.Retry, $"{path}:Retry", errors);
        HedgingValidator.Validate(route.Hedging, route, $"{path}:Hedging", errors);
        FaultValidator.Validate(route.Fault, $"{path}:Fault", errors);
        MirrorValidator.Validate(route.Mirror, subsets, $"{path}:Mirror", errors);
    }

    private static void ValidateMatch(RouteMatchOptions match, string path, List<string> errors)
    {
        if (match.Path is { } exact && (exact.Length == 0 || exact[0] != '/'))
        {
            errors.Add($"{path}:Path: '{exact}' must start with '/'");
        }

        if (match.PathPrefix is { } prefix && (prefix.Length == 0 || prefix[0] != '/'))
        {
            errors.Add($"{path}:PathPrefix: '{prefix}' must start with '/'");
        }

        if (match.Path is not null && match.PathPrefix is not null)
        {
            errors.Add($"{path}: give Path or PathPrefix, not both");
        }

        foreach (var (header, _) in match.Headers)
        {
            if (!ValidationRules.IsToken(header))
            {
                errors.Add($"{path}:Headers:{header}: not a valid header name");
            }
        }

        ValidationRules.Methods(match.Methods, $"{path}:Methods", errors);
    }

    private static void ValidateDestinations(
        IList<RouteDestinationOptions> destinations, IDictionary<string, IDictionary<string, string>> subsets, string path, List<string> errors)
    {
        var sum = 0;
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < destinations.Count; i++)
        {
            var d = destinations[i];
            var dPath = $"{path}:{i}";
            if (d is null)
            {
                errors.Add($"{dPath}: missing destination");
                continue;
            }

            if (d.Weight is < 0 or > 100)
            {
                errors.Add($"{dPath}:Weight: {d.Weight} must be between 0 and 100");
            }

            sum += d.Weight;
            if (d.Subset is { } subset)
            {
                if (!subsets.ContainsKey(subset))
                {
                    errors.Add($"{dPath}:Subset: unknown subset '{subset}'{KnownSubsets(subsets)}");
                }

                if (!seen.Add(subset))
                {
                    errors.Add($"{dPath}:Subset: '{subset}' is listed twice");
                }
            }
        }

        if (sum != 100)
        {
            errors.Add($"{path}: weights sum to {sum}, must be 100");
        }
    }
}
