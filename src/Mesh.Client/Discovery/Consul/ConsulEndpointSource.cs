using System.Globalization;
using System.Net;
using System.Text.Json;
using Mesh.Client.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Mesh.Client.Discovery.Consul;

/// <summary>
/// Endpoints from a Consul catalog (<c>Mesh:Discovery:Consul</c>): a blocking query on <c>/v1/catalog/services</c>
/// learns the service names, and one per service on <c>/v1/health/service/{name}?passing</c> keeps its passing
/// instances, so a change reaches this app as soon as Consul answers it. On failure it keeps what it last knew and
/// retries with jittered backoff. Written from Consul's public HTTP API documentation and tested against the registry's
/// Consul API; it has not run against a Consul server.
/// </summary>
/// <remarks>
/// An instance is <c>http://</c> at its service address (the node's when empty) and port, <c>https://</c> when it carries
/// the tag <c>https</c>; its labels are its service meta, with <c>version</c> from a <c>version=&lt;v&gt;</c> tag, and its
/// zone comes from a <c>zone=&lt;z&gt;</c> tag (the registry's Consul API writes them that way).
/// </remarks>
internal sealed partial class ConsulEndpointSource : IEndpointSource, IDisposable
{
    /// <summary>After the registry (100), before configuration (1000).</summary>
    public const int DefaultPriority = 500;

    /// <summary>How long one blocking query may wait at Consul before it answers unchanged.</summary>
    internal static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly HttpClient? _http;
    private readonly string _datacenter = string.Empty;
    private readonly TimeProvider _time;
    private readonly RandomSource _random;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<string, CancellationTokenSource> _watches = new(StringComparer.OrdinalIgnoreCase);
    private Dictionary<string, IReadOnlyList<DiscoveredEndpoint>> _endpoints = new(StringComparer.OrdinalIgnoreCase);
    private CancellationTokenSource _changed = new();
    private int _disposed;

    public ConsulEndpointSource(IOptions<MeshOptions> options, TimeProvider time, RandomSource random, ILogger<ConsulEndpointSource> logger)
    {
        _time = time;
        _random = random;
        _logger = logger;
        var consul = options.Value.Discovery.Consul;
        if (consul.Address is not { } address)
        {
            return;
        }

        var baseAddress = address.AbsoluteUri.EndsWith('/') ? address : new Uri(address.AbsoluteUri + "/");
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = baseAddress,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        if (consul.Token is { } token)
        {
            _http.DefaultRequestHeaders.Add("X-Consul-Token", token);
        }

        if (consul.Datacenter is { } dc)
        {
            _datacenter = "&dc=" + Uri.EscapeDataString(dc);
        }

        _ = Task.Run(() => WatchCatalogAsync(_stopping.Token));
    }

    public int Priority => DefaultPriority;

    public IReadOnlyCollection<string> Services => Volatile.Read(ref _endpoints).Keys;

    public bool TryGetEndpoints(string service, out IReadOnlyList<DiscoveredEndpoint> endpoints) =>
        Volatile.Read(ref _endpoints).TryGetValue(service, out endpoints!);

    public IChangeToken GetChangeToken() => new CancellationChangeToken(Volatile.Read(ref _changed).Token);

    public void Dispose()
    {
        // The container disposes it once for each service type it is registered as.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stopping.Cancel();
        lock (_lock)
        {
            foreach (var watch in _watches.Values)
            {
                watch.Dispose();
            }

            _watches.Clear();
        }

        _http?.Dispose();
        _stopping.Dispose();
    }

    private async Task WatchCatalogAsync(CancellationToken stopping)
    {
        long index = 0;
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var (next, body) = await QueryAsync($"v1/catalog/services?index={index}&wait={WaitText}{_datacenter}", stopping);
                if (next != index)
                {
                    using var json = JsonDocument.Parse(body);
                    var names = new List<string>();
                    foreach (var service in json.RootElement.EnumerateObject())
                    {
                        if (MeshPolicyValidation.IsValidName(service.Name))
                        {
                            names.Add(service.Name);
                        }
                    }

                    Follow(names, stopping);
                }

                // Consul: an index that went backwards means its state was reset; start over.
                index = next < index ? 0 : next;
                failures = 0;
            }
            catch (Exception ex) when (IsTransient(ex, stopping))
            {
                LogFailed(_logger, "catalog", ex.Message);
                await BackoffAsync(++failures, stopping);
            }
        }
    }

    private async Task WatchServiceAsync(string service, CancellationToken stopping)
    {
        long index = 0;
        var failures = 0;
        var path = $"v1/health/service/{Uri.EscapeDataString(service)}?passing&index=";
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var (next, body) = await QueryAsync($"{path}{index}&wait={WaitText}{_datacenter}", stopping);
                if (next != index)
                {
                    Publish(service, ReadEndpoints(body));
                }

                index = next < index ? 0 : next;
                failures = 0;
            }
            catch (Exception ex) when (IsTransient(ex, stopping))
            {
                LogFailed(_logger, service, ex.Message);
                await BackoffAsync(++failures, stopping);
            }
        }
    }

    private static string WaitText => ((int)Wait.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s";

    /// <summary>One blocking query: its <c>X-Consul-Index</c> and body.</summary>
    private async Task<(long Index, byte[] Body)> QueryAsync(string path, CancellationToken stopping)
    {
        // Consul adds up to wait/16 to spread wake-ups; past that and a margin the connection is presumed lost.
        using var timeout = new CancellationTokenSource(Wait + (Wait / 16) + TimeSpan.FromSeconds(10), _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, timeout.Token);
        using var response = await _http!.GetAsync(new Uri(path, UriKind.Relative), linked.Token);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new HttpRequestException($"{(int)response.StatusCode} from {path.Split('?')[0]}", null, response.StatusCode);
        }

        if (!response.Headers.TryGetValues("X-Consul-Index", out var values) ||
            !long.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index <= 0)
        {
            throw new HttpRequestException($"no X-Consul-Index from {path.Split('?')[0]}: not a Consul API");
        }

        return (index, await response.Content.ReadAsByteArrayAsync(linked.Token));
    }

    /// <summary>Starts a watch for each new service name and drops those no longer in the catalog.</summary>
    private void Follow(List<string> names, CancellationToken stopping)
    {
        var removed = false;
        lock (_lock)
        {
            if (stopping.IsCancellationRequested)
            {
                return;
            }

            var wanted = new HashSet<string>(names, StringComparer.OrdinalIgnoreCase);
            foreach (var (name, watch) in _watches.ToList())
            {
                if (!wanted.Contains(name))
                {
                    watch.Cancel();
                    watch.Dispose();
                    _watches.Remove(name);
                    if (_endpoints.ContainsKey(name))
                    {
                        var next = new Dictionary<string, IReadOnlyList<DiscoveredEndpoint>>(_endpoints, StringComparer.OrdinalIgnoreCase);
                        next.Remove(name);
                        Volatile.Write(ref _endpoints, next);
                        removed = true;
                    }
                }
            }

            foreach (var name in wanted)
            {
                if (!_watches.ContainsKey(name))
                {
                    var watch = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                    _watches[name] = watch;
                    _ = Task.Run(() => WatchServiceAsync(name, watch.Token), CancellationToken.None);
                }
            }
        }

        if (removed)
        {
            SignalChange();
        }
    }

    private void Publish(string service, List<DiscoveredEndpoint> endpoints)
    {
        lock (_lock)
        {
            if (!_watches.ContainsKey(service))
            {
                return; // the catalog dropped it while this answer was on its way
            }

            var next = new Dictionary<string, IReadOnlyList<DiscoveredEndpoint>>(_endpoints, StringComparer.OrdinalIgnoreCase) { [service] = endpoints };
            Volatile.Write(ref _endpoints, next);
        }

        SignalChange();
    }

    private void SignalChange()
    {
        // Not disposed: a reader may still be taking its token; a source without a timer holds nothing to free.
        var previous = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
        previous.Cancel();
    }

    /// <summary>The passing instances of a <c>/v1/health/service</c> answer; an entry without a usable address or port is skipped.</summary>
    internal static List<DiscoveredEndpoint> ReadEndpoints(byte[] body)
    {
        using var json = JsonDocument.Parse(body);
        var list = new List<DiscoveredEndpoint>();
        foreach (var entry in json.RootElement.EnumerateArray())
        {
            if (!entry.TryGetProperty("Service", out var service) || service.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            var host = String(service, "Address");
            if (string.IsNullOrEmpty(host) && entry.TryGetProperty("Node", out var node) && node.ValueKind == JsonValueKind.Object)
            {
                host = String(node, "Address");
            }

            if (string.IsNullOrEmpty(host) || !service.TryGetProperty("Port", out var portValue) || !portValue.TryGetInt32(out var port) ||
                port is < 1 or > 65535)
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (service.TryGetProperty("Meta", out var meta) && meta.ValueKind == JsonValueKind.Object)
            {
                foreach (var m in meta.EnumerateObject())
                {
                    if (m.Value.ValueKind == JsonValueKind.String)
                    {
                        labels.TryAdd(m.Name, m.Value.GetString()!);
                    }
                }
            }

            var https = false;
            string? zone = null;
            if (service.TryGetProperty("Tags", out var tags) && tags.ValueKind == JsonValueKind.Array)
            {
                foreach (var t in tags.EnumerateArray())
                {
                    var tag = t.ValueKind == JsonValueKind.String ? t.GetString()! : string.Empty;
                    if (tag == "https")
                    {
                        https = true;
                    }
                    else if (tag.StartsWith("version=", StringComparison.Ordinal))
                    {
                        labels["version"] = tag["version=".Length..];
                    }
                    else if (tag.StartsWith("zone=", StringComparison.Ordinal))
                    {
                        zone = tag["zone=".Length..];
                    }
                }
            }

            if (IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                host = "[" + ip + "]";
            }

            if (Uri.TryCreate($"{(https ? "https" : "http")}://{host}:{port.ToString(CultureInfo.InvariantCulture)}", UriKind.Absolute, out var address))
            {
                list.Add(new DiscoveredEndpoint(address, labels, zone));
            }
        }

        return list;
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool IsTransient(Exception ex, CancellationToken stopping) =>
        !stopping.IsCancellationRequested && ex is HttpRequestException or JsonException or OperationCanceledException or InvalidOperationException;

    private async Task BackoffAsync(int failures, CancellationToken stopping)
    {
        var ceiling = Math.Min(MaxBackoff.TotalSeconds, 0.25 * Math.Pow(2, Math.Min(failures, 10)));
        var delay = TimeSpan.FromSeconds(ceiling * (0.5 + (0.5 * _random.NextDouble())));
        try
        {
            await Task.Delay(delay, _time, stopping);
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consul discovery: reading {What} failed ({Reason}); keeping the last known endpoints and retrying")]
    private static partial void LogFailed(ILogger logger, string what, string reason);
}
