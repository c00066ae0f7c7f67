using System.Collections.Frozen;
using System.Collections.Immutable;
using Mesh.Client.Configuration;
using Mesh.Client.Discovery;
using Mesh.Client.Hosting;
using Mesh.Client.Internal;
using Mesh.Client.LoadBalancing;
using Mesh.Client.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Mesh.Client.Runtime;

/// <summary>
/// Owns the current <see cref="MeshModel"/>. Configuration reloads and discovery changes build a new model
/// under a lock and publish it with one reference swap; requests read the reference and never wait. A reload that
/// fails validation is logged, counted and dropped, and the last good model keeps serving.
/// </summary>
internal sealed partial class MeshRuntime : IEndpointHealthSource, IDisposable
{
    private readonly IOptionsFactory<MeshOptions> _optionsFactory;
    private readonly IEndpointSource[] _sources;
    private readonly IPolicySource[] _policySources;
    private readonly ConfigurationFileFailures _files;
    private readonly MeshTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly Dictionary<string, ServiceState> _states = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _buildLock = new();
    private readonly List<IDisposable> _subscriptions = [];
    private readonly MeshOptions _start;
    private MeshOptions _options;
    private string _fingerprint;
    private string? _lastRejection;
    private volatile MeshModel _model = MeshModel.Empty;

    public MeshRuntime(IOptionsFactory<MeshOptions> optionsFactory, IEnumerable<IOptionsChangeTokenSource<MeshOptions>> changeSources,
        IEnumerable<IEndpointSource> endpointSources, IEnumerable<IPolicySource> policySources, ConfigurationFileFailures files,
        MeshTelemetry telemetry, TimeProvider timeProvider, RandomSource random, ILogger<MeshRuntime> logger)
    {
        _optionsFactory = optionsFactory;
        _sources = [.. endpointSources.OrderBy(s => s.Priority)];
        _policySources = [.. policySources];
        _files = files;
        _telemetry = telemetry;
        TimeProvider = timeProvider;
        Random = random;
        _logger = logger;

        // Invalid configuration throws here, at start-up, with every error listed.
        _options = optionsFactory.Create(Options.DefaultName);
        _start = _options;
        _fingerprint = Fingerprint(_options);
        Rebuild();
        telemetry.ObserveHealth(this);

        foreach (var source in changeSources)
        {
            if (string.IsNullOrEmpty(source.Name))
            {
                _subscriptions.Add(ChangeToken.OnChange(source.GetChangeToken, Reload));
            }
        }

        _subscriptions.Add(ChangeToken.OnChange(files.GetChangeToken, Reload));
        foreach (var source in _sources)
        {
            _subscriptions.Add(ChangeToken.OnChange(source.GetChangeToken, Rebuild));
        }

        foreach (var source in _policySources)
        {
            if (!_sources.Contains(source as IEndpointSource))
            {
                _subscriptions.Add(ChangeToken.OnChange(source.GetChangeToken, Rebuild));
            }
        }

        // A source that changed between the first build and these subscriptions fired a token nobody listened to yet
        // (the registry source starts watching as it is constructed): build once more, now that every change is heard.
        Rebuild();
    }

    public TimeProvider TimeProvider { get; }

    public RandomSource Random { get; }

    public MeshTelemetry Telemetry => _telemetry;

    public MeshModel Model => _model;

    IEnumerable<KeyValuePair<string, EndpointState[]>> IEndpointHealthSource.EndpointsByService()
    {
        foreach (var (name, service) in _model.Services)
        {
            yield return new(name, service.Endpoints);
        }
    }

    /// <summary>Raised after a new model is published.</summary>
    public event Action<MeshModel>? ModelChanged;

    public bool TryGetService(string host, out ServiceModel service) => _model.Services.TryGetValue(host, out service!);

    /// <summary>Re-reads configuration; keeps the current model when the new one is invalid.</summary>
    public void Reload()
    {
        // A settings file that failed to load holds nothing now: what the configuration reads is not what was meant.
        var broken = _files.Errors();
        if (broken.Count > 0)
        {
            Reject(broken);
            return;
        }

        MeshOptions options;
        try
        {
            options = _optionsFactory.Create(Options.DefaultName);
        }
        catch (OptionsValidationException ex)
        {
            Reject([.. ex.Failures]);
            return;
        }

        var fingerprint = Fingerprint(options);
        bool wasRejected;
        bool unchanged;
        lock (_buildLock)
        {
            wasRejected = _lastRejection is not null;
            _lastRejection = null;
            unchanged = fingerprint == _fingerprint;
            if (!unchanged)
            {
                _options = options;
                _fingerprint = fingerprint;
            }
        }

        if (unchanged)
        {
            // The same configuration signalled again: nothing to rebuild, nothing to report; unless it follows a
            // rejection, which is over now though nothing changes.
            if (wasRejected)
            {
                _telemetry.RecordConfigReload(accepted: true);
                LogValidAgain(_logger);
            }

            return;
        }

        Rebuild();
        _telemetry.RecordConfigReload(accepted: true);
        LogReloadAccepted(_logger, options.Services.Count);
        if (StartOnlyChanges(options) is { Count: > 0 } ignored)
        {
            LogStartOnlyChanged(_logger, string.Join(", ", ignored));
        }
    }

    private void Reject(List<string> failures)
    {
        var errors = string.Join(Environment.NewLine, failures);
        lock (_buildLock)
        {
            // Configuration providers may signal one change more than once (a file watcher, then the root);
            // the same rejection is reported once.
            if (errors == _lastRejection)
            {
                return;
            }

            _lastRejection = errors;
        }

        _telemetry.RecordConfigReload(accepted: false);
        LogReloadRejected(_logger, failures.Count, errors);
    }

    /// <summary>Builds and publishes a model from the current options and what the endpoint sources report.</summary>
    public void Rebuild()
    {
        lock (_buildLock)
        {
            var options = _options;
            _telemetry.SourceService = _start.Service.Name ?? "unknown";
            _telemetry.SourceVersion = _start.Service.Version ?? "unknown";
            var configured = new ConfigurationEndpointSource(options);
            var names = new HashSet<string>(options.Services.Keys, StringComparer.OrdinalIgnoreCase);
            foreach (var source in _sources)
            {
                names.UnionWith(source.Services);
            }

            var services = new Dictionary<string, ServiceModel>(StringComparer.OrdinalIgnoreCase);
            foreach (var name in names)
            {
                if (!_states.TryGetValue(name, out var state))
                {
                    state = new ServiceState(name, TimeProvider);
                    _states[name] = state;
                }

                var policy = PolicyFor(name, options);
                var endpoints = state.ResolveEndpoints(StrictUpgrade(Discover(name, configured)));
                services[name] = ServiceModel.Build(state, policy, endpoints, _start.Service.Zone, _telemetry, TimeProvider, Random);
            }

            foreach (var gone in _states.Keys.Where(k => !names.Contains(k)).ToList())
            {
                _states.Remove(gone);
            }

            _model = new MeshModel(services.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), BuildInbound(options));
        }

        ModelChanged?.Invoke(_model);
    }

    /// <summary>The options as JSON: equal text, equal configuration.</summary>
    private static string Fingerprint(MeshOptions options) => System.Text.Json.JsonSerializer.Serialize(options, FingerprintOptions);

    private static readonly System.Text.Json.JsonSerializerOptions FingerprintOptions = new()
    {
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };

    private ServicePolicyOptions PolicyFor(string service, MeshOptions options) =>
        TryGetPolicy(service, options, out var policy) ? policy : new ServicePolicyOptions();

    /// <summary>A service's policy: a policy source's (the registry's) when it has one, else the configured one.</summary>
    private bool TryGetPolicy(string service, MeshOptions options, out ServicePolicyOptions policy)
    {
        foreach (var source in _policySources)
        {
            if (source.TryGetPolicy(service, out policy))
            {
                return true;
            }
        }

        return options.Services.TryGetValue(service, out policy!);
    }

    /// <summary>The mesh-wide rules, then this service's own policy's.</summary>
    private InboundModel BuildInbound(MeshOptions options)
    {
        var rules = ImmutableArray.CreateBuilder<AuthorizationRuleModel>();
        var limits = ImmutableArray.CreateBuilder<RateLimitRuleModel>();
        foreach (var rule in options.Authorization)
        {
            rules.Add(AuthorizationRuleModel.Of(rule));
        }

        foreach (var rule in options.RateLimits)
        {
            limits.Add(RateLimitRuleModel.Of(rule));
        }

        if (_start.Service.Name is { } self && TryGetPolicy(self, options, out var own))
        {
            foreach (var rule in own.Authorization)
            {
                rules.Add(AuthorizationRuleModel.Of(rule));
            }

            foreach (var rule in own.RateLimits)
            {
                limits.Add(RateLimitRuleModel.Of(rule));
            }
        }

        return new InboundModel(rules.ToImmutable(), options.Security.AuthorizationDryRun, options.Telemetry.AccessLog, limits.ToImmutable());
    }

    private IReadOnlyList<DiscoveredEndpoint> Discover(string service, ConfigurationEndpointSource configured)
    {
        foreach (var source in _sources)
        {
            if (source.TryGetEndpoints(service, out var endpoints) && endpoints.Count > 0)
            {
                return endpoints;
            }
        }

        return configured.TryGetEndpoints(service, out var fromConfig) ? fromConfig : [];
    }

    /// <summary>
    /// The settings a reload changed that the app reads once, at start (its identity, TLS, registration, discovery and
    /// exporters are made then): they take effect at the next start, and the running app keeps the values it started with.
    /// </summary>
    private List<string> StartOnlyChanges(MeshOptions options)
    {
        var root = MeshOptions.SectionName;
        var changed = new List<string>();
        void Compare(string path, object? started, object? now)
        {
            if (System.Text.Json.JsonSerializer.Serialize(started, FingerprintOptions) != System.Text.Json.JsonSerializer.Serialize(now, FingerprintOptions))
            {
                changed.Add($"{root}:{path}");
            }
        }

        Compare("Service", _start.Service, options.Service);
        Compare("Registry", _start.Registry, options.Registry);
        Compare("Security:Mode", _start.Security.Mode, options.Security.Mode);
        Compare("Security:TrustDomain", _start.Security.TrustDomain, options.Security.TrustDomain);
        Compare("Telemetry:Meters", _start.Telemetry.Meters, options.Telemetry.Meters);
        Compare("Telemetry:MaxSeriesPerMetric", _start.Telemetry.MaxSeriesPerMetric, options.Telemetry.MaxSeriesPerMetric);
        Compare("Telemetry:MetricsListener", _start.Telemetry.MetricsListener, options.Telemetry.MetricsListener);
        Compare("Telemetry:Otlp", _start.Telemetry.Otlp, options.Telemetry.Otlp);
        Compare("Discovery", _start.Discovery, options.Discovery);
        return changed;
    }

    /// <summary>
    /// In Strict mode every mesh hop is mTLS: an endpoint registered as http:// is called as https:// on the same port.
    /// The mode is the one the app started with, which its TLS runs with.
    /// </summary>
    private IReadOnlyList<DiscoveredEndpoint> StrictUpgrade(IReadOnlyList<DiscoveredEndpoint> endpoints)
    {
        if (_start.Security.Mode != MeshSecurityMode.Strict)
        {
            return endpoints;
        }

        var upgraded = new List<DiscoveredEndpoint>(endpoints.Count);
        foreach (var e in endpoints)
        {
            upgraded.Add(e.Address.Scheme == Uri.UriSchemeHttp ? e with { Address = new UriBuilder(e.Address) { Scheme = Uri.UriSchemeHttps }.Uri } : e);
        }

        return upgraded;
    }

    public void Dispose()
    {
        foreach (var s in _subscriptions)
        {
            s.Dispose();
        }
    }

    [LoggerMessage(1, LogLevel.Error, "Mesh configuration reload rejected with {Count} error(s); the last good configuration keeps serving:\n{Errors}")]
    private static partial void LogReloadRejected(ILogger logger, int count, string errors);

    [LoggerMessage(3, LogLevel.Warning, "Mesh configuration reloaded with changes to settings read at start only, which take effect at the next start: {Settings}")]
    private static partial void LogStartOnlyChanged(ILogger logger, string settings);

    [LoggerMessage(4, LogLevel.Information, "Mesh configuration valid again: it is the configuration that kept serving")]
    private static partial void LogValidAgain(ILogger logger);

    [LoggerMessage(2, LogLevel.Information, "Mesh configuration reloaded: {Count} service(s)")]
    private static partial void LogReloadAccepted(ILogger logger, int count);
}
