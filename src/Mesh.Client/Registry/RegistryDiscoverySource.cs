using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using System.Text.Json;
using Mesh.Client.Configuration;
using Mesh.Client.Discovery;
using Mesh.Client.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Mesh.Client.Registry;

/// <summary>
/// Endpoints and policies from the registry. It watches the registry's catalog with one long poll, and the instances
/// and policy of every service it knows with one more (<c>POST /v1/watch</c>), so a change reaches this app as soon as
/// the registry has it; against a registry without that endpoint (404) it holds two polls per service instead. A watch
/// whose replica fails goes on with the same index at the next replica (<see cref="RegistryClient"/>). When no replica
/// can be reached it keeps serving what it last knew, retrying with jittered backoff, and it keeps that last known good
/// state in a cache file so an app restarted while the registry is down still routes.
/// </summary>
internal sealed partial class RegistryDiscoverySource : IEndpointSource, IPolicySource, IDisposable
{
    public const int DefaultPriority = 100;

    /// <summary>How long one long poll may wait at the registry before it answers unchanged.</summary>
    internal static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private readonly RegistryClient? _client;
    private readonly TimeProvider _time;
    private readonly RandomSource _random;
    private readonly ILogger _logger;
    private readonly string? _cacheFile;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Counter<long>? _policiesRejected;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ServiceView> _services = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _watched = new(StringComparer.OrdinalIgnoreCase);
    private CancellationTokenSource _changed = new();
    private CancellationTokenSource _joined = new(); // cancelled when services join _watched: the held poll ends, the next names them
    private bool _perService;    // the registry has no POST /v1/watch: two polls per service
    private long _lastSync;      // timestamp of the last answer from the registry, or of the cache file
    private int _connected;      // 1 while the last call to the registry succeeded

    public RegistryDiscoverySource(IOptions<MeshOptions> options, RegistryTransport transport, TimeProvider time, RandomSource random,
        IMeterFactory meterFactory, ILogger<RegistryDiscoverySource> logger)
    {
        _time = time;
        _random = random;
        _logger = logger;
        var mesh = options.Value;
        if (!mesh.Registry.IsConfigured)
        {
            return; // configuration-only mesh: this source knows nothing
        }

        var meter = meterFactory.Create(Telemetry.MeshTelemetry.MeterName);
        _policiesRejected = meter.CreateCounter<long>("mesh.registry.policies.rejected", "{policy}",
            "Registry policy documents this client refused; the service's last good policy kept serving.");
        _client = transport.CreateClient();
        _cacheFile = CachePath(mesh);
        LoadCache();

        meter.CreateObservableGauge("mesh.registry.connected", () => Volatile.Read(ref _connected), "{state}",
            "1 while the registry answers, 0 while this app routes on its last known state.");
        meter.CreateObservableGauge("mesh.registry.snapshot_age", () => SnapshotAge.TotalSeconds, "s",
            "Time since this app last heard from the registry (or since its cache was written).");

        StartWatching(mesh.Services.Keys);
        _ = Task.Run(() => WatchCatalogAsync(_stopping.Token));
        _ = Task.Run(() => WatchServiceStatesAsync(_stopping.Token));
    }

    public int Priority => DefaultPriority;

    public bool IsConnected => Volatile.Read(ref _connected) == 1;

    /// <summary>Time since the registry last answered; infinite when it never has and no cache was found.</summary>
    public TimeSpan SnapshotAge
    {
        get
        {
            var last = Volatile.Read(ref _lastSync);
            return last == 0 ? Timeout.InfiniteTimeSpan : _time.GetElapsedTime(last);
        }
    }

    public IReadOnlyCollection<string> Services
    {
        get
        {
            lock (_lock)
            {
                return [.. _services.Keys];
            }
        }
    }

    public bool TryGetEndpoints(string service, out IReadOnlyList<DiscoveredEndpoint> endpoints)
    {
        lock (_lock)
        {
            if (_services.TryGetValue(service, out var view) && view.Endpoints is { Count: > 0 } list)
            {
                endpoints = list;
                return true;
            }
        }

        endpoints = [];
        return false;
    }

    public bool TryGetPolicy(string service, out ServicePolicyOptions policy)
    {
        lock (_lock)
        {
            if (_services.TryGetValue(service, out var view) && view.Policy is { } p)
            {
                policy = p;
                return true;
            }
        }

        policy = null!;
        return false;
    }

    public IChangeToken GetChangeToken()
    {
        lock (_lock)
        {
            return new CancellationChangeToken(_changed.Token);
        }
    }

    /// <summary>Watches these services from now on: they join the next poll of all, or get polls of their own.</summary>
    private void StartWatching(IEnumerable<string> services)
    {
        List<string>? added = null;
        CancellationTokenSource? joined = null;
        bool perService;
        lock (_lock)
        {
            foreach (var service in services)
            {
                if (_watched.Add(service))
                {
                    (added ??= []).Add(service);
                }
            }

            perService = _perService;
            if (added is not null && !perService)
            {
                joined = _joined;
                _joined = new CancellationTokenSource();
            }
        }

        if (added is null)
        {
            return;
        }

        if (perService)
        {
            foreach (var service in added)
            {
                StartServiceWatches(service);
            }
        }
        else
        {
            // Not disposed: the poll loop may be linking to its token right now; it holds no timer.
            joined!.Cancel();
        }
    }

    private void StartServiceWatches(string service)
    {
        _ = Task.Run(() => WatchInstancesAsync(service, _stopping.Token));
        _ = Task.Run(() => WatchPolicyAsync(service, _stopping.Token));
    }

    /// <summary>
    /// One long poll for every watched service. A service that joins ends the held poll; it is asked for at once on
    /// its own (its full state, without an index), then polled with the others from the lower of the two indexes, so no
    /// change between the two answers is missed, and per-service indexes keep a state that came twice from being
    /// applied twice. A registry that answers 404 has no such endpoint: this falls back to polls per service.
    /// </summary>
    private async Task WatchServiceStatesAsync(CancellationToken cancellationToken)
    {
        long? index = null;
        var covered = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var applied = new Dictionary<string, (long Instances, long Policy)>(StringComparer.OrdinalIgnoreCase);
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            string[] watched;
            CancellationToken joined;
            lock (_lock)
            {
                watched = [.. _watched];
                joined = _joined.Token;
            }

            try
            {
                if (watched.Length == 0)
                {
                    await WaitForJoinAsync(joined, cancellationToken);
                    continue;
                }

                var newcomers = index is null ? watched : [.. watched.Where(s => !covered.Contains(s))];
                if (newcomers.Length > 0)
                {
                    var full = await _client!.WatchServiceStatesAsync(newcomers, null, Wait, cancellationToken) ?? throw EmptyAnswer();
                    OnSuccess(ref failures);
                    ApplyStates(full, applied);
                    covered.UnionWith(newcomers);
                    index = index is { } known ? Math.Min(known, full.Index) : full.Index;
                    continue;
                }

                var started = _time.GetTimestamp();
                ServicesWatchResponse answer;
                using (var poll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, joined))
                {
                    try
                    {
                        answer = await _client!.WatchServiceStatesAsync(watched, index, Wait, poll.Token) ?? throw EmptyAnswer();
                    }
                    catch (OperationCanceledException) when (joined.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                    {
                        continue;
                    }
                }

                OnSuccess(ref failures);
                ApplyStates(answer, applied);

                // A registry that does not hold the poll answers at once; poll it gently instead of spinning.
                if (answer.Index == index && answer.Services is not { Count: > 0 } && _time.GetElapsedTime(started) < TimeSpan.FromSeconds(1))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken);
                }

                index = answer.Index;
            }
            catch (HttpRequestException ex) when (ex.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
            {
                OnSuccess(ref failures);
                UseServiceWatches();
                return;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                await OnFailureAsync("services", ex, ++failures, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private static InvalidDataException EmptyAnswer() => new("The registry answered the watch with an empty body.");

    private async Task WaitForJoinAsync(CancellationToken joined, CancellationToken cancellationToken)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, joined);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, _time, either.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>An older registry: every watched service, and every one that joins later, gets its own two polls.</summary>
    private void UseServiceWatches()
    {
        string[] watched;
        lock (_lock)
        {
            _perService = true;
            watched = [.. _watched];
        }

        LogPerServiceWatches(_logger, _client!.Replica!);
        foreach (var service in watched)
        {
            StartServiceWatches(service);
        }
    }

    /// <summary>Applies, in one change, each part of each answered service whose index differs from the one last applied.</summary>
    private void ApplyStates(ServicesWatchResponse answer, Dictionary<string, (long Instances, long Policy)> applied)
    {
        var changes = new List<(string Name, InstancesResponse? Instances, PolicyResponse? Policy, ServicePolicyOptions? Parsed)>();
        foreach (var state in answer.Services ?? [])
        {
            if (state?.Name is not { } name || !PolicyValidator.IsValidName(name))
            {
                continue;
            }

            applied.TryGetValue(name, out var last);
            var instances = state.Instances is { } i && i.Index != last.Instances ? i : null;
            var policy = state.Policy is { } p && p.Index != last.Policy ? p : null;
            if (instances is null && policy is null)
            {
                continue;
            }

            applied[name] = (instances?.Index ?? last.Instances, policy?.Index ?? last.Policy);
            changes.Add((name, instances, policy, policy is null ? null : ReadPolicy(name, policy.Document)));
        }

        if (changes.Count == 0)
        {
            return;
        }

        Apply(view =>
        {
            foreach (var (name, instances, policy, parsed) in changes)
            {
                var v = view(name);
                if (instances is not null)
                {
                    v.Endpoints = ToEndpoints(instances.Instances ?? []);
                    v.Instances = instances.Instances ?? [];
                }

                if (policy is not null)
                {
                    SetPolicy(v, policy.Document, parsed);
                }
            }
        });
    }

    private async Task WatchCatalogAsync(CancellationToken cancellationToken)
    {
        long index = 0;
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var started = _time.GetTimestamp();
                var catalog = await _client!.WatchServicesAsync(index, Wait, cancellationToken) ?? new ServicesResponse();
                OnSuccess(ref failures);
                StartWatching(catalog.Services.Select(s => s.Name).Where(PolicyValidator.IsValidName));

                // A registry that does not hold catalog polls answers at once; poll it gently instead of spinning.
                if (catalog.Index == index && _time.GetElapsedTime(started) < TimeSpan.FromSeconds(1))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken);
                }

                index = catalog.Index;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                await OnFailureAsync("catalog", ex, ++failures, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private Task WatchInstancesAsync(string service, CancellationToken cancellationToken) =>
        WatchAsync(service,
            (index, ct) => _client!.WatchInstancesAsync(service, index, Wait, ct),
            static answer => answer.Index,
            answer => Apply(service, view =>
            {
                view.Endpoints = ToEndpoints(answer.Instances);
                view.Instances = answer.Instances;
            }),
            cancellationToken);

    private Task WatchPolicyAsync(string service, CancellationToken cancellationToken) =>
        WatchAsync(service,
            (index, ct) => _client!.WatchPolicyAsync(service, index, Wait, ct),
            static answer => answer.Index,
            answer =>
            {
                var policy = ReadPolicy(service, answer.Document);
                Apply(service, view => SetPolicy(view, answer.Document, policy));
            },
            cancellationToken);

    /// <summary>
    /// One long-poll loop: ask with the last index seen, apply an answer whose index moved, back off on failure.
    /// Runs until this source is disposed: any failure, not only a network one (an answer this client cannot apply,
    /// say), is logged, shows as disconnected, and is retried, rather than silently ending the watch.
    /// </summary>
    private async Task WatchAsync<T>(string what, Func<long, CancellationToken, Task<T?>> fetch, Func<T, long> indexOf,
        Action<T> apply, CancellationToken cancellationToken)
        where T : class
    {
        long index = 0;
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var answer = await fetch(index, cancellationToken);
                OnSuccess(ref failures);
                if (answer is not null && indexOf(answer) != index)
                {
                    apply(answer);
                    index = indexOf(answer);
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                await OnFailureAsync(what, ex, ++failures, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private ServicePolicyOptions? ReadPolicy(string service, JsonElement? document)
    {
        if (document is not { ValueKind: JsonValueKind.Object } doc)
        {
            return null;
        }

        var (errors, policy) = PolicyDocumentReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(doc.GetRawText())));
        if (policy is null)
        {
            // The registry validates with the same code, so this means a newer registry or a tampered cache.
            _policiesRejected?.Add(1, new KeyValuePair<string, object?>("service", service));
            LogPolicyRejected(_logger, service, string.Join("; ", errors));
        }

        return policy;
    }

    /// <summary>
    /// Takes a policy answer into a view. A document this client refused (a newer registry's, say) changes nothing: the
    /// last good policy keeps serving, and stays the cached one; only a document that is absent removes the policy.
    /// </summary>
    private static void SetPolicy(ServiceView view, JsonElement? document, ServicePolicyOptions? parsed)
    {
        if (parsed is null && document is { ValueKind: JsonValueKind.Object })
        {
            return;
        }

        view.Policy = parsed;
        view.PolicyDocument = document;
    }

    private void Apply(string service, Action<ServiceView> change) => Apply(view => change(view(service)));

    /// <summary>One change to what this source knows: <paramref name="change"/> edits the views (made on first use) under the lock; one save, one notification.</summary>
    private void Apply(Action<Func<string, ServiceView>> change)
    {
        CancellationTokenSource previous;
        lock (_lock)
        {
            change(ViewOf);
            previous = _changed;
            _changed = new CancellationTokenSource();
        }

        SaveCache();
        previous.Cancel();
        previous.Dispose();
    }

    /// <summary>The view of <paramref name="service"/>, made on first use; under the lock.</summary>
    private ServiceView ViewOf(string service)
    {
        if (!_services.TryGetValue(service, out var view))
        {
            view = new ServiceView();
            _services[service] = view;
        }

        return view;
    }

    private void OnSuccess(ref int failures)
    {
        failures = 0;
        Volatile.Write(ref _lastSync, _time.GetTimestamp());
        if (Interlocked.Exchange(ref _connected, 1) == 0)
        {
            LogConnected(_logger, _client!.Replica!);
        }
    }

    private async Task OnFailureAsync(string what, Exception ex, int failures, CancellationToken cancellationToken)
    {
        if (ex is HttpRequestException { StatusCode: HttpStatusCode.TooManyRequests })
        {
            // The registry answered: this app's service has as many watches parked as it allows
            // (MeshRegistry:MaxWatchesPerCaller). Still connected; retried with the same index after the backoff, which
            // answers at once if anything changed meanwhile.
            LogWatchRefused(_logger, what, ExceptionReason.Of(ex));
        }
        else if (Interlocked.Exchange(ref _connected, 0) == 1 || failures == 1)
        {
            LogDisconnected(_logger, what, ExceptionReason.Of(ex));
        }

        // Every replica failed this call (each was tried once, the watch's index with it). Back off with full jitter, so
        // a registry coming back is not met by every client at once.
        var delay = RegistryFailover.Backoff(failures, _random);
        try
        {
            await Task.Delay(delay, _time, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    internal static List<DiscoveredEndpoint> ToEndpoints(List<InstanceRecord> instances)
    {
        var list = new List<DiscoveredEndpoint>(instances.Count);
        foreach (var i in instances)
        {
            if (Uri.TryCreate(i.Address, UriKind.Absolute, out var address) && (address.Scheme == Uri.UriSchemeHttp || address.Scheme == Uri.UriSchemeHttps))
            {
                // Keys that differ only by case (a registry that did not refuse them, or a tampered cache) keep the
                // first; they must not throw and end the watch.
                var labels = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (var (key, value) in i.Labels ?? [])
                {
                    labels.TryAdd(key, value);
                }

                if (i.Version is { } version)
                {
                    labels.TryAdd("version", version);
                }

                list.Add(new DiscoveredEndpoint(address, labels, i.Zone));
            }
        }

        return list;
    }

    /// <summary>
    /// Where the snapshot goes: <c>Registry:CacheDirectory</c>, by default <c>MeshLib/cache</c> in the user's local data
    /// folder, never the shared temp folder, where another user could make the folder first and plant a snapshot to
    /// route on. Null: no cache (turned off, or no per-user folder).
    /// </summary>
    internal static string? CachePath(MeshOptions mesh)
    {
        var directory = mesh.Registry.CacheDirectory ?? DefaultCacheDirectory;
        if (directory.Length == 0)
        {
            return null;
        }

        var name = mesh.Service.Name ?? "client";
        var registry = StableHash.Hash(string.Join(" ", mesh.Registry.Replicas.Select(u => u.ToString()))).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
        return Path.Combine(directory, $"{name}-{registry}.json");
    }

    /// <summary>Makes the cache's folder readable by this user only: the snapshot names every endpoint and policy.</summary>
    internal static void CreateCacheFolder(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }

        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private static string DefaultCacheDirectory { get; } =
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify) is { Length: > 0 } local
            ? Path.Combine(local, "MeshLib", "cache")
            : "";

    private void SaveCache()
    {
        if (_cacheFile is null)
        {
            return;
        }

        var cache = new RegistryCache { SavedAt = _time.GetUtcNow() };
        lock (_lock)
        {
            foreach (var (name, view) in _services)
            {
                cache.Services[name] = new RegistryCacheEntry { Instances = view.Instances, Policy = view.PolicyDocument };
            }
        }

        try
        {
            CreateCacheFolder(Path.GetDirectoryName(_cacheFile)!);
            var temp = _cacheFile + ".tmp";
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(cache, RegistryCacheJsonContext.Default.RegistryCache));
            File.Move(temp, _cacheFile, overwrite: true); // atomic: a crash leaves the old file or the new one
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogCacheFailed(_logger, _cacheFile, ex.Message);
        }
    }

    private void LoadCache()
    {
        if (_cacheFile is null || !File.Exists(_cacheFile))
        {
            return;
        }

        try
        {
            var cache = JsonSerializer.Deserialize(File.ReadAllBytes(_cacheFile), RegistryCacheJsonContext.Default.RegistryCache);
            if (cache is null)
            {
                return;
            }

            lock (_lock)
            {
                foreach (var (name, entry) in cache.Services)
                {
                    if (!PolicyValidator.IsValidName(name))
                    {
                        continue;
                    }

                    _services[name] = new ServiceView
                    {
                        Instances = entry.Instances ?? [],
                        Endpoints = ToEndpoints(entry.Instances ?? []),
                        PolicyDocument = entry.Policy,
                        Policy = ReadPolicy(name, entry.Policy),
                    };
                }
            }

            // The snapshot is as old as the file, not as old as this process.
            var age = _time.GetUtcNow() - cache.SavedAt;
            Volatile.Write(ref _lastSync, _time.GetTimestamp() - (long)(Math.Max(0, age.TotalSeconds) * _time.TimestampFrequency));
            LogCacheLoaded(_logger, cache.Services.Count, _cacheFile);
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            LogCacheFailed(_logger, _cacheFile, ex.Message);
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _client?.Dispose();
    }

    private sealed class ServiceView
    {
        public IReadOnlyList<DiscoveredEndpoint>? Endpoints { get; set; }

        public List<InstanceRecord> Instances { get; set; } = [];

        public ServicePolicyOptions? Policy { get; set; }

        public JsonElement? PolicyDocument { get; set; }
    }

    [LoggerMessage(10, LogLevel.Information, "Connected to the mesh registry at {Registry}")]
    private static partial void LogConnected(ILogger logger, Uri registry);

    [LoggerMessage(11, LogLevel.Warning, "Mesh registry unreachable while watching {What}: {Reason}. Routing continues on the last known state.")]
    private static partial void LogDisconnected(ILogger logger, string what, string reason);

    [LoggerMessage(12, LogLevel.Error, "Registry policy for {Service} rejected; the previous policy stays: {Errors}")]
    private static partial void LogPolicyRejected(ILogger logger, string service, string errors);

    [LoggerMessage(13, LogLevel.Information, "Loaded the last known mesh state ({Count} services) from {File}")]
    private static partial void LogCacheLoaded(ILogger logger, int count, string file);

    [LoggerMessage(14, LogLevel.Warning, "Mesh registry cache {File} could not be used: {Reason}")]
    private static partial void LogCacheFailed(ILogger logger, string file, string reason);

    [LoggerMessage(16, LogLevel.Debug, "Mesh registry refused the watch of {What} for now: {Reason}. Retrying after a backoff.")]
    private static partial void LogWatchRefused(ILogger logger, string what, string reason);

    [LoggerMessage(15, LogLevel.Information, "The mesh registry at {Registry} has no watch of many services; watching each service with its own polls")]
    private static partial void LogPerServiceWatches(ILogger logger, Uri registry);
}
