using System.Globalization;
using Mesh.Client.Resilience;

namespace Mesh.Client.Configuration;

/// <summary>
/// Checks mesh options and registry policy documents. Shared by <c>AddMesh</c>'s start-up and reload validation and by
/// the registry's <c>PUT</c>/<c>validate</c> endpoints, so a policy the registry accepts is one every client accepts.
/// It reports every error, each with its configuration path.
/// </summary>
internal static class PolicyValidator
{
    private static readonly TimeSpan MaxDuration = TimeSpan.FromDays(1);

    public static List<string> Validate(MeshOptions options, string root = MeshOptions.SectionName)
    {
        var errors = new List<string>(options.ReadErrors);

        if (options.Service.Name is { } name && !IsValidName(name))
        {
            errors.Add($"{root}:Service:Name: '{name}' is not a valid service name (letters, digits, '-', '_' and '.', at most 63 characters)");
        }

        if (options.Registry.Url is { } url && (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"{root}:Registry:Url: '{url}' must be an absolute http or https URL");
        }

        Registry.RegistryTransportValidator.Validate(options.Registry, root, errors);

        if (options.Registry.InstanceId is { } instanceId && !IsValidName(instanceId))
        {
            errors.Add($"{root}:Registry:InstanceId: '{instanceId}' is not a valid instance id (letters, digits, '-', '_' and '.', at most 63 characters)");
        }

        if (options.Registry.AdvertiseAddress is { } advertise &&
            (!advertise.IsAbsoluteUri || (advertise.Scheme != Uri.UriSchemeHttp && advertise.Scheme != Uri.UriSchemeHttps) || advertise.AbsolutePath != "/"))
        {
            errors.Add($"{root}:Registry:AdvertiseAddress: '{advertise}' must be an absolute http or https URL without a path");
        }

        if (options.Registry.TtlSeconds is < 3 or > 3600)
        {
            errors.Add($"{root}:Registry:TtlSeconds: {options.Registry.TtlSeconds} must be between 3 and 3600");
        }

        if (options.Registry.DrainDelay < TimeSpan.Zero || options.Registry.DrainDelay > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{root}:Registry:DrainDelay: {options.Registry.DrainDelay} must be between 00:00:00 and 00:05:00");
        }

        if (options.Registry.Url is not null && options.Registry.Register && string.IsNullOrEmpty(options.Service.Name))
        {
            errors.Add($"{root}:Service:Name: required to register with the registry (or set {root}:Registry:Register to false)");
        }

        if (!Enum.IsDefined(options.Security.Mode))
        {
            errors.Add($"{root}:Security:Mode: '{options.Security.Mode}' is not one of {string.Join(", ", Enum.GetNames<MeshSecurityMode>())}");
        }

        if (string.IsNullOrWhiteSpace(options.Security.TrustDomain) || Uri.CheckHostName(options.Security.TrustDomain) != UriHostNameType.Dns)
        {
            errors.Add($"{root}:Security:TrustDomain: '{options.Security.TrustDomain}' must be a DNS name such as mesh.local");
        }

        foreach (var (serviceName, policy) in options.Services)
        {
            var path = $"{root}:Services:{serviceName}";
            if (!IsValidName(serviceName))
            {
                errors.Add($"{path}: '{serviceName}' is not a valid service name (letters, digits, '-', '_' and '.', at most 63 characters)");
            }

            if (policy is null)
            {
                errors.Add($"{path}: missing policy");
                continue;
            }

            ValidateEndpoints(policy, path, errors);
            ValidatePolicy(policy, path, errors);
        }

        for (var i = 0; i < options.Authorization.Count; i++)
        {
            ValidateAuthorizationRule(options.Authorization[i], $"{root}:Authorization:{i}", errors);
        }

        Telemetry.TelemetryOptionsValidator.Validate(options.Telemetry, $"{root}:Telemetry", errors);
        return errors;
    }

    public static void ValidateAuthorizationRule(AuthorizationRuleOptions rule, string path, List<string> errors)
    {
        if (!Enum.IsDefined(rule.Action))
        {
            errors.Add($"{path}:Action: '{rule.Action}' is not Allow or Deny");
        }

        for (var j = 0; j < rule.From.Count; j++)
        {
            if (rule.From[j] != "*" && !IsValidName(rule.From[j]))
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
            else if (AuthorizationPathProblem(rule.Paths[j]) is { } problem)
            {
                errors.Add($"{path}:Paths:{j}: '{rule.Paths[j]}' {problem}");
            }
        }

        ValidateMethods(rule.Methods, $"{path}:Methods", errors);
    }

    /// <summary>
    /// Why an authorization path is not in the one spelling rules are matched in (requests are compared after the same
    /// canonicalization, ignoring case), or null. A rule in another spelling would look stricter than it is.
    /// </summary>
    private static string? AuthorizationPathProblem(string value)
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

    private static void ValidateEndpoints(ServicePolicyOptions policy, string path, List<string> errors)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < policy.Endpoints.Count; i++)
        {
            var ep = policy.Endpoints[i];
            var epPath = $"{path}:Endpoints:{i}:Address";
            if (ep?.Address is not { } address)
            {
                // The reader already reported unparsable addresses; only report a truly missing one once.
                if (ep is null || !errors.Exists(e => e.StartsWith(epPath, StringComparison.Ordinal)))
                {
                    errors.Add($"{epPath}: required");
                }

                continue;
            }

            if (!address.IsAbsoluteUri || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add($"{epPath}: '{address}' must be an absolute http or https URL");
            }
            else if (address.AbsolutePath != "/" || address.Query.Length > 0 || address.Fragment.Length > 0)
            {
                errors.Add($"{epPath}: '{address}' must be scheme, host and port only, without a path or query");
            }
            else if (!seen.Add(address.GetLeftPart(UriPartial.Authority)))
            {
                errors.Add($"{epPath}: '{address}' is listed twice");
            }
        }
    }

    /// <summary>Validates a policy: everything of a service's section but its endpoints.</summary>
    public static void ValidatePolicy(ServicePolicyOptions policy, string path, List<string> errors)
    {
        var prefix = path.Length == 0 ? string.Empty : path + ":";

        foreach (var (subsetName, selector) in policy.Subsets)
        {
            if (!IsValidName(subsetName))
            {
                errors.Add($"{prefix}Subsets:{subsetName}: '{subsetName}' is not a valid subset name");
            }

            if (selector is null)
            {
                errors.Add($"{prefix}Subsets:{subsetName}: missing label selector");
            }
        }

        var lb = policy.LoadBalancer;
        if (lb is null)
        {
            errors.Add($"{prefix}LoadBalancer: missing");
        }
        else
        {
            if (!Enum.IsDefined(lb.Policy))
            {
                errors.Add($"{prefix}LoadBalancer:Policy: '{lb.Policy}' is not one of {string.Join(", ", Enum.GetNames<LoadBalancerPolicy>())}");
            }
            else if (lb.Policy == LoadBalancerPolicy.RingHash && string.IsNullOrWhiteSpace(lb.HashHeader))
            {
                errors.Add($"{prefix}LoadBalancer:HashHeader: required by the RingHash policy");
            }

            if (lb.HashHeader is { Length: > 0 } header && !IsToken(header))
            {
                errors.Add($"{prefix}LoadBalancer:HashHeader: '{header}' is not a valid header name");
            }

            Percentage(lb.MinHealthPercent, $"{prefix}LoadBalancer:MinHealthPercent", errors);
        }

        var routeNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < policy.Routes.Count; i++)
        {
            var route = policy.Routes[i];
            var routePath = $"{prefix}Routes:{i}";
            if (route is null)
            {
                errors.Add($"{routePath}: missing route");
                continue;
            }

            if (route.Name is { } routeName && !routeNames.Add(routeName))
            {
                errors.Add($"{routePath}:Name: '{routeName}' is used by an earlier route");
            }

            ValidateRoute(route, policy, routePath, errors);
        }

        if (policy.OutlierDetection is { } od)
        {
            NonNegative(od.Consecutive5xxErrors, $"{prefix}OutlierDetection:Consecutive5xxErrors", errors);
            NonNegative(od.ConsecutiveGatewayErrors, $"{prefix}OutlierDetection:ConsecutiveGatewayErrors", errors);
            Positive(od.Interval, $"{prefix}OutlierDetection:Interval", errors);
            Positive(od.BaseEjectionTime, $"{prefix}OutlierDetection:BaseEjectionTime", errors);
            Percentage(od.MaxEjectionPercent, $"{prefix}OutlierDetection:MaxEjectionPercent", errors);
        }

        if (policy.RetryBudget is { } rb)
        {
            if (!double.IsFinite(rb.RetryRatio) || rb.RetryRatio < 0 || rb.RetryRatio > 1000)
            {
                errors.Add($"{prefix}RetryBudget:RetryRatio: {Format(rb.RetryRatio)} must be between 0 and 1000");
            }

            NonNegative(rb.MinRetriesPerSecond, $"{prefix}RetryBudget:MinRetriesPerSecond", errors);
            if (rb.Ttl < TimeSpan.FromSeconds(1) || rb.Ttl > TimeSpan.FromSeconds(60))
            {
                errors.Add($"{prefix}RetryBudget:Ttl: {rb.Ttl} must be between 00:00:01 and 00:01:00");
            }
        }

        if (policy.CircuitBreaker is { Enabled: true } cb)
        {
            // These bounds are the circuit breaker engine's own; checking them here turns a crash into an error.
            if (!double.IsFinite(cb.FailureRatio) || cb.FailureRatio <= 0 || cb.FailureRatio > 1)
            {
                errors.Add($"{prefix}CircuitBreaker:FailureRatio: {Format(cb.FailureRatio)} must be above 0 and at most 1");
            }

            if (cb.MinimumThroughput < 2)
            {
                errors.Add($"{prefix}CircuitBreaker:MinimumThroughput: {cb.MinimumThroughput} must be at least 2");
            }

            if (cb.SamplingDuration < TimeSpan.FromMilliseconds(500) || cb.SamplingDuration > MaxDuration)
            {
                errors.Add($"{prefix}CircuitBreaker:SamplingDuration: {cb.SamplingDuration} must be between 00:00:00.5 and 1.00:00:00");
            }

            if (cb.BreakDuration < TimeSpan.FromMilliseconds(500) || cb.BreakDuration > MaxDuration)
            {
                errors.Add($"{prefix}CircuitBreaker:BreakDuration: {cb.BreakDuration} must be between 00:00:00.5 and 1.00:00:00");
            }
        }

        for (var i = 0; i < policy.Authorization.Count; i++)
        {
            ValidateAuthorizationRule(policy.Authorization[i], $"{prefix}Authorization:{i}", errors);
        }
    }

    private static void ValidateRoute(RouteOptions route, ServicePolicyOptions policy, string path, List<string> errors)
    {
        if (route.Match is { } match)
        {
            if (match.Path is { } exact && (exact.Length == 0 || exact[0] != '/'))
            {
                errors.Add($"{path}:Match:Path: '{exact}' must start with '/'");
            }

            if (match.PathPrefix is { } prefix && (prefix.Length == 0 || prefix[0] != '/'))
            {
                errors.Add($"{path}:Match:PathPrefix: '{prefix}' must start with '/'");
            }

            if (match.Path is not null && match.PathPrefix is not null)
            {
                errors.Add($"{path}:Match: give Path or PathPrefix, not both");
            }

            foreach (var (header, _) in match.Headers)
            {
                if (!IsToken(header))
                {
                    errors.Add($"{path}:Match:Headers:{header}: not a valid header name");
                }
            }

            ValidateMethods(match.Methods, $"{path}:Match:Methods", errors);
        }

        if (route.Destinations.Count > 0)
        {
            var sum = 0;
            var subsets = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < route.Destinations.Count; i++)
            {
                var d = route.Destinations[i];
                var dPath = $"{path}:Destinations:{i}";
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
                    if (!policy.Subsets.ContainsKey(subset))
                    {
                        errors.Add($"{dPath}:Subset: unknown subset '{subset}'{KnownSubsets(policy)}");
                    }

                    if (!subsets.Add(subset))
                    {
                        errors.Add($"{dPath}:Subset: '{subset}' is listed twice");
                    }
                }
            }

            if (sum != 100)
            {
                errors.Add($"{path}:Destinations: weights sum to {sum}, must be 100");
            }
        }

        if (route.Timeout is { } timeout)
        {
            Positive(timeout, $"{path}:Timeout", errors);
        }

        if (route.Retry is { } retry)
        {
            if (retry.Attempts is < 0 or > 10)
            {
                errors.Add($"{path}:Retry:Attempts: {retry.Attempts} must be between 0 and 10");
            }

            if (retry.PerTryTimeout is { } perTry)
            {
                Positive(perTry, $"{path}:Retry:PerTryTimeout", errors);
            }

            RetryConditions.Parse(retry.RetryOn, $"{path}:Retry:RetryOn", errors);
            if (retry.BaseDelay < TimeSpan.Zero || retry.BaseDelay > MaxDuration)
            {
                errors.Add($"{path}:Retry:BaseDelay: {retry.BaseDelay} must be between 00:00:00 and 1.00:00:00");
            }

            if (retry.MaxDelay < retry.BaseDelay || retry.MaxDelay > MaxDuration)
            {
                errors.Add($"{path}:Retry:MaxDelay: {retry.MaxDelay} must be at least BaseDelay ({retry.BaseDelay}) and at most 1.00:00:00");
            }
        }

        if (route.Fault is { } fault)
        {
            if (fault.Delay is { } delay)
            {
                Percentage(delay.Percentage, $"{path}:Fault:Delay:Percentage", errors);
                if (delay.FixedDelay <= TimeSpan.Zero || delay.FixedDelay > MaxDuration)
                {
                    errors.Add($"{path}:Fault:Delay:FixedDelay: {delay.FixedDelay} must be above 00:00:00 and at most 1.00:00:00");
                }
            }

            if (fault.Abort is { } abort)
            {
                Percentage(abort.Percentage, $"{path}:Fault:Abort:Percentage", errors);
                if (abort.HttpStatus is null == abort.GrpcStatus is null)
                {
                    errors.Add($"{path}:Fault:Abort: give exactly one of HttpStatus and GrpcStatus");
                }

                if (abort.HttpStatus is { } status and (< 200 or > 599))
                {
                    errors.Add($"{path}:Fault:Abort:HttpStatus: {status} must be between 200 and 599");
                }

                if (abort.GrpcStatus is { } grpc and (< 1 or > 16))
                {
                    errors.Add($"{path}:Fault:Abort:GrpcStatus: {grpc} must be a gRPC error code between 1 and 16");
                }
            }
        }

        if (route.Mirror is { } mirror)
        {
            if (mirror.Subset is null)
            {
                errors.Add($"{path}:Mirror:Subset: required");
            }
            else if (!policy.Subsets.ContainsKey(mirror.Subset))
            {
                errors.Add($"{path}:Mirror:Subset: unknown subset '{mirror.Subset}'{KnownSubsets(policy)}");
            }

            Percentage(mirror.Percentage, $"{path}:Mirror:Percentage", errors);
        }
    }

    private static string KnownSubsets(ServicePolicyOptions policy) =>
        policy.Subsets.Count == 0 ? "; the service defines no subsets" : $"; known subsets are {string.Join(", ", policy.Subsets.Keys)}";

    private static void ValidateMethods(IList<string> methods, string path, List<string> errors)
    {
        for (var i = 0; i < methods.Count; i++)
        {
            if (string.IsNullOrEmpty(methods[i]) || !IsToken(methods[i]))
            {
                errors.Add($"{path}:{i}: '{methods[i]}' is not an HTTP method");
            }
        }
    }

    private static void Percentage(double value, string path, List<string> errors)
    {
        if (!double.IsFinite(value) || value < 0 || value > 100)
        {
            errors.Add($"{path}: {Format(value)} must be between 0 and 100");
        }
    }

    private static void NonNegative(int value, string path, List<string> errors)
    {
        if (value < 0)
        {
            errors.Add($"{path}: {value} must not be negative");
        }
    }

    private static void Positive(TimeSpan value, string path, List<string> errors)
    {
        if (value <= TimeSpan.Zero || value > MaxDuration)
        {
            errors.Add($"{path}: {value} must be above 00:00:00 and at most 1.00:00:00");
        }
    }

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Service and subset names: DNS-label-like, so they work as hosts in <c>http://name/</c>.</summary>
    public static bool IsValidName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 63)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_' and not '.')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsToken(string value)
    {
        foreach (var c in value)
        {
            // RFC 9110 token characters.
            if (!char.IsAsciiLetterOrDigit(c) && "!#$%&'*+-.^_`|~".IndexOf(c, StringComparison.Ordinal) < 0)
            {
                return false;
            }
        }

        return value.Length > 0;
    }
}
