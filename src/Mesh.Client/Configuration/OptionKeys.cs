using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace Mesh.Client.Configuration;

/// <summary>
/// The settings each section accepts, taken from its options type's public settable properties so that an option
/// added to a type is accepted by the reader without being listed a second time. The order is the properties'
/// declaration order, which is the order an unknown-setting error lists them in.
/// </summary>
internal static class OptionKeys
{
    public static readonly string[] Root = Of<MeshOptions>();
    public static readonly string[] Service = Of<ServiceIdentityOptions>();
    public static readonly string[] Registry = Of<MeshRegistryOptions>();
    public static readonly string[] Security = Of<MeshSecurityOptions>();
    public static readonly string[] ServicePolicy = Of<ServicePolicyOptions>();

    /// <summary>
    /// A registry policy document: a service's section without <c>Endpoints</c>, because the registry learns a
    /// service's endpoints from its registrations and a document cannot override them.
    /// </summary>
    public static readonly string[] PolicyDocument = [.. ServicePolicy.Where(k => k != nameof(ServicePolicyOptions.Endpoints))];

    public static readonly string[] Endpoint = Of<EndpointOptions>();
    public static readonly string[] LoadBalancer = Of<LoadBalancerOptions>();
    public static readonly string[] Locality = Of<LocalityOptions>();
    public static readonly string[] SlowStart = Of<SlowStartOptions>();
    public static readonly string[] OutlierDetection = Of<OutlierDetectionOptions>();
    public static readonly string[] RetryBudget = Of<RetryBudgetOptions>();
    public static readonly string[] CircuitBreaker = Of<CircuitBreakerOptions>();
    public static readonly string[] ConnectionPool = Of<ConnectionPoolOptions>();
    public static readonly string[] Route = Of<RouteOptions>();
    public static readonly string[] RouteMatch = Of<RouteMatchOptions>();
    public static readonly string[] RouteDestination = Of<RouteDestinationOptions>();
    public static readonly string[] Retry = Of<RetryOptions>();
    public static readonly string[] Hedging = Of<HedgingOptions>();
    public static readonly string[] Fault = Of<FaultOptions>();
    public static readonly string[] DelayFault = Of<DelayFaultOptions>();
    public static readonly string[] AbortFault = Of<AbortFaultOptions>();
    public static readonly string[] Mirror = Of<MirrorOptions>();
    public static readonly string[] AuthorizationRule = Of<AuthorizationRuleOptions>();
    public static readonly string[] RateLimitRule = Of<RateLimitRuleOptions>();
    public static readonly string[] Telemetry = Of<MeshTelemetryOptions>();
    public static readonly string[] Otlp = Of<MeshOtlpOptions>();
    public static readonly string[] Discovery = Of<MeshDiscoveryOptions>();
    public static readonly string[] Consul = Of<ConsulDiscoveryOptions>();

    private static string[] Of<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] T>() =>
        [.. typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0)
            // GetProperties promises no order; metadata tokens follow declaration order.
            .OrderBy(p => p.MetadataToken)
            .Select(p => p.Name)];
}
