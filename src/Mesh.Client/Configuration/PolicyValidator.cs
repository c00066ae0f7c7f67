using Mesh.Client.Discovery.Consul;
using Mesh.Client.LoadBalancing;
using Mesh.Client.OutlierDetection;
using Mesh.Client.RateLimiting;
using Mesh.Client.Registry;
using Mesh.Client.Resilience;
using Mesh.Client.Routing;
using Mesh.Client.Security;
using Mesh.Client.Telemetry;

namespace Mesh.Client.Configuration;

/// <summary>
/// Checks mesh options and registry policy documents. Shared by <c>AddMesh</c>'s start-up and reload validation and by
/// the registry's <c>PUT</c>/<c>validate</c> endpoints, so a policy the registry accepts is one every client accepts.
/// It walks the options and hands each section to its feature's validator with the section's configuration path, so
/// every error is reported with its path; errors come in the order of the sections.
/// </summary>
internal static class PolicyValidator
{
    public static List<string> Validate(MeshOptions options, string root = MeshOptions.SectionName)
    {
        var errors = new List<string>(options.ReadErrors);

        if (options.Service.Name is { } name && !IsValidName(name))
        {
            errors.Add($"{root}:Service:Name: '{name}' is not a valid service name (letters, digits, '-', '_' and '.', at most 63 characters)");
        }

        MeshRegistryOptionsValidator.Validate(options.Registry, options.Service, root, errors);
        MeshSecurityOptionsValidator.Validate(options.Security, $"{root}:Security", errors);

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

            EndpointsValidator.Validate(policy.Endpoints, $"{path}:Endpoints", errors);
            ValidatePolicy(policy, path, errors);
        }

        for (var i = 0; i < options.Authorization.Count; i++)
        {
            AuthorizationRuleValidator.Validate(options.Authorization[i], $"{root}:Authorization:{i}", errors);
        }

        RateLimitRuleValidator.Validate(options.RateLimits, $"{root}:RateLimits", errors);
        TelemetryOptionsValidator.Validate(options.Telemetry, $"{root}:Telemetry", errors);
        ConsulDiscoveryValidator.Validate(options.Discovery?.Consul, $"{root}:Discovery:Consul", errors);
        return errors;
    }

    /// <summary>Validates a policy: everything of a service's section but its endpoints.</summary>
    public static void ValidatePolicy(ServicePolicyOptions policy, string path, List<string> errors)
    {
        var prefix = path.Length == 0 ? string.Empty : path + ":";

        SubsetsValidator.Validate(policy.Subsets, $"{prefix}Subsets", errors);
        LoadBalancerValidator.Validate(policy.LoadBalancer, $"{prefix}LoadBalancer", errors);
        RouteValidator.Validate(policy.Routes, policy.Subsets, $"{prefix}Routes", errors);
        OutlierDetectionValidator.Validate(policy.OutlierDetection, $"{prefix}OutlierDetection", errors);
        RetryBudgetValidator.Validate(policy.RetryBudget, $"{prefix}RetryBudget", errors);
        CircuitBreakerValidator.Validate(policy.CircuitBreaker, $"{prefix}CircuitBreaker", errors);
        ConnectionPoolValidator.Validate(policy.ConnectionPool, $"{prefix}ConnectionPool", errors);

        for (var i = 0; i < policy.Authorization.Count; i++)
        {
            AuthorizationRuleValidator.Validate(policy.Authorization[i], $"{prefix}Authorization:{i}", errors);
        }

        RateLimitRuleValidator.Validate(policy.RateLimits, $"{prefix}RateLimits", errors);
    }

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
}
