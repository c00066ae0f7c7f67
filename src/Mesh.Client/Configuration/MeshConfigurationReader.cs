using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Configuration;

/// <summary>
/// Turns the <c>Mesh</c> configuration section, or a registry policy document, into options. Conversion problems are
/// collected rather than thrown so that validation can report them together with the semantic errors.
/// </summary>
internal static class MeshConfigurationReader
{
    public static void Read(IConfiguration mesh, MeshOptions options)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.ReadErrors;
        var root = mesh as IConfigurationSection ?? throw new ArgumentException("Expected a configuration section.", nameof(mesh));
        var r = new ConfigurationSectionReader(root, errors, OptionKeys.Root);

        var service = new ConfigurationSectionReader(r.Section("Service"), errors, OptionKeys.Service);
        options.Service.Name = service.String("Name") ?? options.Service.Name;
        options.Service.Version = service.String("Version") ?? options.Service.Version;
        options.Service.Zone = service.String("Zone") ?? options.Service.Zone;
        foreach (var (k, v) in service.StringMap("Labels"))
        {
            options.Service.Labels[k] = v;
        }

        var registry = new ConfigurationSectionReader(r.Section("Registry"), errors, OptionKeys.Registry);
        var reg = options.Registry;
        reg.Url = registry.AbsoluteUri("Url") ?? reg.Url;
        reg.Urls = registry.UriList("Urls") ?? reg.Urls;
        reg.Token = registry.String("Token") ?? reg.Token;
        reg.InstanceId = registry.String("InstanceId") ?? reg.InstanceId;
        reg.AdvertiseAddress = registry.AbsoluteUri("AdvertiseAddress") ?? reg.AdvertiseAddress;
        reg.TtlSeconds = registry.Int("TtlSeconds") ?? reg.TtlSeconds;
        reg.DrainDelay = registry.Duration("DrainDelay") ?? reg.DrainDelay;
        reg.CacheDirectory = registry.Section("CacheDirectory").Value ?? reg.CacheDirectory;
        reg.Register = registry.Bool("Register") ?? reg.Register;
        reg.CaFingerprint = registry.String("CaFingerprint") ?? reg.CaFingerprint;
        reg.CaFile = registry.String("CaFile") ?? reg.CaFile;
        reg.AllowInsecure = registry.Bool("AllowInsecure") ?? reg.AllowInsecure;

        var security = new ConfigurationSectionReader(r.Section("Security"), errors, OptionKeys.Security);
        options.Security.Mode = security.Enum<MeshSecurityMode>("Mode") ?? options.Security.Mode;
        options.Security.TrustDomain = security.String("TrustDomain") ?? options.Security.TrustDomain;
        options.Security.AuthorizationDryRun = security.Bool("AuthorizationDryRun") ?? options.Security.AuthorizationDryRun;

        foreach (var svc in r.Children("Services"))
        {
            var policy = options.Services.TryGetValue(svc.Key, out var existing) ? existing : new ServicePolicyOptions();
            ReadServicePolicy(svc, policy, errors, allowEndpoints: true);
            options.Services[svc.Key] = policy;
        }

        ReadTelemetry(r, options, errors);
        var discovery = new ConfigurationSectionReader(r.Section("Discovery"), errors, OptionKeys.Discovery);
        var c = new ConfigurationSectionReader(discovery.Section("Consul"), errors, OptionKeys.Consul);
        var consul = options.Discovery.Consul;
        consul.Address = c.AbsoluteUri("Address") ?? consul.Address;
        consul.Token = c.String("Token") ?? consul.Token;
        consul.Datacenter = c.String("Datacenter") ?? consul.Datacenter;
        ReadAuthorization(r.Section("Authorization"), options.Authorization, errors);
        ReadRateLimits(r.Section("RateLimits"), options.RateLimits, errors);
    }

    private static void ReadRateLimits(IConfigurationSection section, IList<RateLimitRuleOptions> rules, List<string> errors)
    {
        foreach (var rule in ConfigurationSectionReader.ChildrenOf(section, errors))
        {
            var rr = new ConfigurationSectionReader(rule, errors, OptionKeys.RateLimitRule);
            rules.Add(new RateLimitRuleOptions
            {
                Name = rr.String("Name"),
                From = rr.StringList("From"),
                Paths = rr.StringList("Paths"),
                Methods = rr.StringList("Methods"),
                Limiter = rr.Enum<RateLimiterKind>("Limiter") ?? RateLimiterKind.TokenBucket,
                TokenLimit = rr.Int("TokenLimit"),
                TokensPerPeriod = rr.Int("TokensPerPeriod"),
                ReplenishmentPeriod = rr.Duration("ReplenishmentPeriod"),
                PermitLimit = rr.Int("PermitLimit"),
                Window = rr.Duration("Window"),
                PerCaller = rr.Bool("PerCaller") ?? false,
                DryRun = rr.Bool("DryRun") ?? false,
            });
        }
    }

    private static void ReadAuthorization(IConfigurationSection section, IList<AuthorizationRuleOptions> rules, List<string> errors)
    {
        foreach (var rule in ConfigurationSectionReader.ChildrenOf(section, errors))
        {
            var rr = new ConfigurationSectionReader(rule, errors, OptionKeys.AuthorizationRule);
            rules.Add(new AuthorizationRuleOptions
            {
                Action = rr.Enum<AuthorizationAction>("Action") ?? AuthorizationAction.Allow,
                From = rr.StringList("From"),
                Paths = rr.StringList("Paths"),
                Methods = rr.StringList("Methods"),
            });
        }
    }

    private static void ReadTelemetry(ConfigurationSectionReader root, MeshOptions options, List<string> errors)
    {
        var t = new ConfigurationSectionReader(root.Section("Telemetry"), errors, OptionKeys.Telemetry);
        var telemetry = options.Telemetry;
        if (t.Has("Meters"))
        {
            telemetry.Meters = t.StringList("Meters");
        }

        telemetry.AccessLog = t.Bool("AccessLog") ?? telemetry.AccessLog;
        telemetry.MaxSeriesPerMetric = t.Int("MaxSeriesPerMetric") ?? telemetry.MaxSeriesPerMetric;
        telemetry.MetricsListener = t.AbsoluteUri("MetricsListener") ?? telemetry.MetricsListener;
        var o = new ConfigurationSectionReader(t.Section("Otlp"), errors, OptionKeys.Otlp);
        var otlp = telemetry.Otlp;
        otlp.Endpoint = o.AbsoluteUri("Endpoint") ?? otlp.Endpoint;
        otlp.Protocol = o.String("Protocol") ?? otlp.Protocol;
        otlp.MetricsInterval = o.Duration("MetricsInterval") ?? otlp.MetricsInterval;
        otlp.Timeout = o.Duration("Timeout") ?? otlp.Timeout;
    }

    /// <summary>Reads a registry policy document: a service's section without <c>Endpoints</c>.</summary>
    public static ServicePolicyOptions ReadPolicyDocument(IConfigurationSection document, List<string> errors)
    {
        var policy = new ServicePolicyOptions();
        ReadServicePolicy(document, policy, errors, allowEndpoints: false);
        return policy;
    }

    public static void ReadServicePolicy(IConfigurationSection section, ServicePolicyOptions policy, List<string> errors, bool allowEndpoints)
    {
        var r = new ConfigurationSectionReader(section, errors, allowEndpoints ? OptionKeys.ServicePolicy : OptionKeys.PolicyDocument);

        if (allowEndpoints && r.Has("Endpoints"))
        {
            policy.Endpoints.Clear();
            foreach (var ep in r.Children("Endpoints"))
            {
                var er = new ConfigurationSectionReader(ep, errors, OptionKeys.Endpoint);
                var address = er.AbsoluteUri("Address");
                if (address is null && !er.Has("Address"))
                {
                    errors.Add($"{ep.Path}:Address: required");
                }

                policy.Endpoints.Add(new EndpointOptions { Address = address, Labels = er.StringMap("Labels"), Zone = er.String("Zone") });
            }
        }

        foreach (var subset in r.Children("Subsets"))
        {
            var selector = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var label in ConfigurationSectionReader.ChildrenOf(subset, errors))
            {
                if (label.Value is null)
                {
                    errors.Add($"{label.Path}: a subset is a map of label names to values");
                }
                else
                {
                    selector[label.Key] = label.Value;
                }
            }

            policy.Subsets[subset.Key] = selector;
        }

        var lb = new ConfigurationSectionReader(r.Section("LoadBalancer"), errors, OptionKeys.LoadBalancer);
        policy.LoadBalancer.Policy = lb.Enum<LoadBalancerPolicy>("Policy") ?? policy.LoadBalancer.Policy;
        policy.LoadBalancer.HashHeader = lb.String("HashHeader") ?? policy.LoadBalancer.HashHeader;
        policy.LoadBalancer.MinHealthPercent = lb.Double("MinHealthPercent") ?? policy.LoadBalancer.MinHealthPercent;
        ReadLocality(lb, policy.LoadBalancer.Locality, errors);
        if (lb.Has("SlowStart"))
        {
            var ss = new ConfigurationSectionReader(lb.Section("SlowStart"), errors, OptionKeys.SlowStart);
            var slowStart = policy.LoadBalancer.SlowStart ?? new SlowStartOptions();
            slowStart.Window = ss.Duration("Window") ?? slowStart.Window;
            slowStart.Aggression = ss.Double("Aggression") ?? slowStart.Aggression;
            slowStart.MinWeightPercent = ss.Double("MinWeightPercent") ?? slowStart.MinWeightPercent;
            policy.LoadBalancer.SlowStart = slowStart;
        }

        if (r.Has("Routes"))
        {
            policy.Routes.Clear();
            foreach (var route in r.Children("Routes"))
            {
                policy.Routes.Add(ReadRoute(route, errors));
            }
        }

        var od = new ConfigurationSectionReader(r.Section("OutlierDetection"), errors, OptionKeys.OutlierDetection);
        var o = policy.OutlierDetection;
        o.Consecutive5xxErrors = od.Int("Consecutive5xxErrors") ?? o.Consecutive5xxErrors;
        o.ConsecutiveGatewayErrors = od.Int("ConsecutiveGatewayErrors") ?? o.ConsecutiveGatewayErrors;
        o.Interval = od.Duration("Interval") ?? o.Interval;
        o.BaseEjectionTime = od.Duration("BaseEjectionTime") ?? o.BaseEjectionTime;
        o.MaxEjectionPercent = od.Double("MaxEjectionPercent") ?? o.MaxEjectionPercent;

        var rb = new ConfigurationSectionReader(r.Section("RetryBudget"), errors, OptionKeys.RetryBudget);
        var b = policy.RetryBudget;
        b.RetryRatio = rb.Double("RetryRatio") ?? b.RetryRatio;
        b.MinRetriesPerSecond = rb.Int("MinRetriesPerSecond") ?? b.MinRetriesPerSecond;
        b.Ttl = rb.Duration("Ttl") ?? b.Ttl;

        var cb = new ConfigurationSectionReader(r.Section("CircuitBreaker"), errors, OptionKeys.CircuitBreaker);
        var c = policy.CircuitBreaker;
        c.Enabled = cb.Bool("Enabled") ?? c.Enabled;
        c.FailureRatio = cb.Double("FailureRatio") ?? c.FailureRatio;
        c.MinimumThroughput = cb.Int("MinimumThroughput") ?? c.MinimumThroughput;
        c.SamplingDuration = cb.Duration("SamplingDuration") ?? c.SamplingDuration;
        c.BreakDuration = cb.Duration("BreakDuration") ?? c.BreakDuration;

        var cp = new ConfigurationSectionReader(r.Section("ConnectionPool"), errors, OptionKeys.ConnectionPool);
        var pool = policy.ConnectionPool;
        pool.MaxRequests = cp.Int("MaxRequests") ?? pool.MaxRequests;
        pool.MaxPendingRequests = cp.Int("MaxPendingRequests") ?? pool.MaxPendingRequests;

        if (r.Has("Authorization"))
        {
            policy.Authorization.Clear();
            ReadAuthorization(r.Section("Authorization"), policy.Authorization, errors);
        }

        if (r.Has("RateLimits"))
        {
            policy.RateLimits.Clear();
            ReadRateLimits(r.Section("RateLimits"), policy.RateLimits, errors);
        }
    }

    private static void ReadLocality(ConfigurationSectionReader lb, LocalityOptions locality, List<string> errors)
    {
        var r = new ConfigurationSectionReader(lb.Section("Locality"), errors, OptionKeys.Locality);
        locality.Enabled = r.Bool("Enabled") ?? locality.Enabled;
        if (r.Has("Failover"))
        {
            locality.Failover = r.StringList("Failover");
        }

        if (r.Has("Distribute"))
        {
            locality.Distribute = r.IntMap("Distribute");
        }
    }

    private static RouteOptions ReadRoute(IConfigurationSection section, List<string> errors)
    {
        var r = new ConfigurationSectionReader(section, errors, OptionKeys.Route);
        var route = new RouteOptions { Name = r.String("Name"), Timeout = r.Duration("Timeout") };

        if (r.Has("Match"))
        {
            var m = new ConfigurationSectionReader(r.Section("Match"), errors, OptionKeys.RouteMatch);
            route.Match = new RouteMatchOptions
            {
                Headers = m.StringMap("Headers"),
                Path = m.String("Path"),
                PathPrefix = m.String("PathPrefix"),
                Methods = m.StringList("Methods"),
            };
        }

        foreach (var d in r.Children("Destinations"))
        {
            var dr = new ConfigurationSectionReader(d, errors, OptionKeys.RouteDestination);
            route.Destinations.Add(new RouteDestinationOptions { Subset = dr.String("Subset"), Weight = dr.Int("Weight") ?? 100 });
        }

        if (r.Has("Retry"))
        {
            var rr = new ConfigurationSectionReader(r.Section("Retry"), errors, OptionKeys.Retry);
            var retry = new RetryOptions();
            retry.Attempts = rr.Int("Attempts") ?? retry.Attempts;
            retry.PerTryTimeout = rr.Duration("PerTryTimeout");
            retry.RetryOn = rr.StringList("RetryOn");
            retry.RetryNonIdempotent = rr.Bool("RetryNonIdempotent") ?? false;
            retry.BaseDelay = rr.Duration("BaseDelay") ?? retry.BaseDelay;
            retry.MaxDelay = rr.Duration("MaxDelay") ?? retry.MaxDelay;
            route.Retry = retry;
        }

        if (r.Has("Hedging"))
        {
            var hr = new ConfigurationSectionReader(r.Section("Hedging"), errors, OptionKeys.Hedging);
            var hedging = new HedgingOptions();
            hedging.MaxAttempts = hr.Int("MaxAttempts") ?? hedging.MaxAttempts;
            hedging.Delay = hr.Duration("Delay");
            route.Hedging = hedging;
        }

        if (r.Has("Fault"))
        {
            var fr = new ConfigurationSectionReader(r.Section("Fault"), errors, OptionKeys.Fault);
            route.Fault = new FaultOptions { PerAttempt = fr.Bool("PerAttempt") ?? false };
            if (fr.Has("Delay"))
            {
                var dr = new ConfigurationSectionReader(fr.Section("Delay"), errors, OptionKeys.DelayFault);
                route.Fault.Delay = new DelayFaultOptions
                {
                    Percentage = dr.Double("Percentage") ?? 0,
                    FixedDelay = dr.Duration("FixedDelay") ?? TimeSpan.Zero,
                };
            }

            if (fr.Has("Abort"))
            {
                var ar = new ConfigurationSectionReader(fr.Section("Abort"), errors, OptionKeys.AbortFault);
                route.Fault.Abort = new AbortFaultOptions
                {
                    Percentage = ar.Double("Percentage") ?? 0,
                    HttpStatus = ar.Int("HttpStatus"),
                    GrpcStatus = ar.Int("GrpcStatus"),
                };
            }
        }

        if (r.Has("Mirror"))
        {
            var mr = new ConfigurationSectionReader(r.Section("Mirror"), errors, OptionKeys.Mirror);
            route.Mirror = new MirrorOptions { Subset = mr.String("Subset"), Percentage = mr.Double("Percentage") ?? 100 };
        }

        return route;
    }
}
