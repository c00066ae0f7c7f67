using System.Text;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests;

/// <summary>
/// The full unknown-setting message of every section: the allowed keys come from the options types, so these pin
/// the list and its order that operators see.
/// </summary>
public sealed class UnknownSettingTests
{
    [Fact]
    public void Every_section_lists_its_settings_in_the_documented_order()
    {
        var config = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""
        { "Mesh": {
            "X": 1,
            "Service": { "X": 1 },
            "Registry": { "X": 1 },
            "Security": { "X": 1 },
            "Authorization": [ { "X": 1 } ],
            "RateLimits": [ { "Name": "r", "X": 1 } ],
            "Telemetry": { "X": 1, "Otlp": { "X": 1 } },
            "Discovery": { "X": 1, "Consul": { "X": 1 } },
            "Services": { "a": {
              "X": 1,
              "Endpoints": [ { "Address": "http://127.0.0.1:1", "X": 1 } ],
              "LoadBalancer": { "X": 1, "Locality": { "X": 1 }, "SlowStart": { "Window": "00:00:30", "X": 1 } },
              "OutlierDetection": { "X": 1 },
              "RetryBudget": { "X": 1 },
              "CircuitBreaker": { "X": 1 },
              "ConnectionPool": { "X": 1 },
              "RateLimits": [ { "X": 1 } ],
              "Routes": [ {
                "X": 1,
                "Match": { "X": 1 },
                "Destinations": [ { "X": 1 } ],
                "Retry": { "X": 1 },
                "Hedging": { "X": 1 },
                "Fault": { "X": 1, "Delay": { "X": 1 }, "Abort": { "X": 1 } },
                "Mirror": { "X": 1 } } ] } } } }
        """))).Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);

        string[] expected =
        [
            "Mesh:X: unknown setting 'X'; expected one of Service, Registry, Security, Services, Authorization, RateLimits, Telemetry, Discovery",
            "Mesh:Service:X: unknown setting 'X'; expected one of Name, Version, Zone, Labels",
            "Mesh:Registry:X: unknown setting 'X'; expected one of Url, Urls, Token, InstanceId, AdvertiseAddress, TtlSeconds, DrainDelay, CacheDirectory, Register, CaFingerprint, CaFile, AllowInsecure",
            "Mesh:Security:X: unknown setting 'X'; expected one of Mode, TrustDomain, AuthorizationDryRun",
            "Mesh:Services:a:X: unknown setting 'X'; expected one of Endpoints, Subsets, LoadBalancer, Routes, OutlierDetection, RetryBudget, CircuitBreaker, ConnectionPool, Authorization, RateLimits",
            "Mesh:Services:a:Endpoints:0:X: unknown setting 'X'; expected one of Address, Labels, Zone",
            "Mesh:Services:a:LoadBalancer:X: unknown setting 'X'; expected one of Policy, HashHeader, MinHealthPercent, Locality, SlowStart",
            "Mesh:Services:a:LoadBalancer:Locality:X: unknown setting 'X'; expected one of Enabled, Failover, Distribute",
            "Mesh:Services:a:LoadBalancer:SlowStart:X: unknown setting 'X'; expected one of Window, Aggression, MinWeightPercent",
            "Mesh:Services:a:Routes:0:X: unknown setting 'X'; expected one of Name, Match, Destinations, Timeout, Retry, Hedging, Fault, Mirror",
            "Mesh:Services:a:Routes:0:Match:X: unknown setting 'X'; expected one of Headers, Path, PathPrefix, Methods",
            "Mesh:Services:a:Routes:0:Destinations:0:X: unknown setting 'X'; expected one of Subset, Weight",
            "Mesh:Services:a:Routes:0:Retry:X: unknown setting 'X'; expected one of Attempts, PerTryTimeout, RetryOn, RetryNonIdempotent, BaseDelay, MaxDelay",
            "Mesh:Services:a:Routes:0:Hedging:X: unknown setting 'X'; expected one of MaxAttempts, Delay",
            "Mesh:Services:a:Routes:0:Fault:X: unknown setting 'X'; expected one of Delay, Abort, PerAttempt",
            "Mesh:Services:a:Routes:0:Fault:Delay:X: unknown setting 'X'; expected one of Percentage, FixedDelay",
            "Mesh:Services:a:Routes:0:Fault:Abort:X: unknown setting 'X'; expected one of Percentage, HttpStatus, GrpcStatus",
            "Mesh:Services:a:Routes:0:Mirror:X: unknown setting 'X'; expected one of Subset, Percentage",
            "Mesh:Services:a:OutlierDetection:X: unknown setting 'X'; expected one of Consecutive5xxErrors, ConsecutiveGatewayErrors, Interval, BaseEjectionTime, MaxEjectionPercent",
            "Mesh:Services:a:RetryBudget:X: unknown setting 'X'; expected one of RetryRatio, MinRetriesPerSecond, Ttl",
            "Mesh:Services:a:CircuitBreaker:X: unknown setting 'X'; expected one of Enabled, FailureRatio, MinimumThroughput, SamplingDuration, BreakDuration",
            "Mesh:Services:a:ConnectionPool:X: unknown setting 'X'; expected one of MaxRequests, MaxPendingRequests",
            "Mesh:Telemetry:X: unknown setting 'X'; expected one of Meters, AccessLog, MaxSeriesPerMetric, MetricsListener, Otlp",
            "Mesh:Telemetry:Otlp:X: unknown setting 'X'; expected one of Endpoint, Protocol, MetricsInterval, Timeout",
            "Mesh:Discovery:X: unknown setting 'X'; expected one of Consul",
            "Mesh:Discovery:Consul:X: unknown setting 'X'; expected one of Address, Token, Datacenter",
            "Mesh:Authorization:0:X: unknown setting 'X'; expected one of Action, From, Paths, Methods",
            "Mesh:RateLimits:0:X: unknown setting 'X'; expected one of Name, From, Paths, Methods, Limiter, TokenLimit, TokensPerPeriod, ReplenishmentPeriod, PermitLimit, Window, PerCaller, DryRun",
            "Mesh:Services:a:RateLimits:0:X: unknown setting 'X'; expected one of Name, From, Paths, Methods, Limiter, TokenLimit, TokensPerPeriod, ReplenishmentPeriod, PermitLimit, Window, PerCaller, DryRun",
        ];
        options.ReadErrors.Where(e => e.Contains("unknown setting", StringComparison.Ordinal)).ShouldBe(expected, ignoreOrder: true);
    }

    [Fact]
    public void A_policy_document_does_not_offer_endpoints()
    {
        var (errors, _) = PolicyDocumentReader.Read(new MemoryStream(Encoding.UTF8.GetBytes("""{ "X": 1 }""")));

        errors.ShouldBe(["X: unknown setting 'X'; expected one of Subsets, LoadBalancer, Routes, OutlierDetection, RetryBudget, CircuitBreaker, ConnectionPool, Authorization, RateLimits"]);
    }
}
