using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Mesh.Registry.Benchmarks;

/// <summary>One loaded instance: its service, id and the registration body its renewals send again unchanged.</summary>
internal sealed record Instance(int Service, string Id, byte[] Body)
{
    public string Path => $"/v1/services/{RegistryServer.ServiceName(Service)}/instances/{Id}";

    public static Instance Create(int service, int n, int ttlSeconds)
    {
        var svc = RegistryServer.ServiceName(service);
        var id = $"{svc}-{n.ToString(CultureInfo.InvariantCulture)}";
        var host = $"10.{(service >> 8) & 255}.{service & 255}.{(n % 250) + 1}";
        var body = $$"""{"address":"http://{{host}}:8080","version":"v{{n % 3}}","zone":"zone-{{(char)('a' + (n % 3))}}","labels":{"app":"{{svc}}","team":"team-{{service % 17}}"},"ttlSeconds":{{ttlSeconds}}}""";
        return new Instance(service, id, Encoding.UTF8.GetBytes(body));
    }
}

/// <summary>A change made by the registrar: its service, the index the registry answered with, when the 2xx came back, and the replica it went through.</summary>
internal readonly record struct Change(int Service, long Index, long AckedAt, int Replica);

/// <summary>Registry calls, with the token of the service they act for.</summary>
internal static class Api
{
    public const string IndexHeader = "X-Mesh-Index";

    public static HttpRequestMessage Put(string path, byte[] body, string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, new Uri(path, UriKind.Relative))
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    public static long Index(HttpResponseMessage response) =>
        response.Headers.TryGetValues(IndexHeader, out var values) && long.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            ? index
            : throw new InvalidDataException($"The answer has no {IndexHeader} header (status {(int)response.StatusCode}).");

    /// <summary>A handler for many connections to one loopback server: no proxy, no connection cap beyond <paramref name="connections"/>.</summary>
    public static HttpClient Client(Uri address, int connections, TimeSpan timeout) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        MaxConnectionsPerServer = connections,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        ConnectTimeout = TimeSpan.FromSeconds(15),
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        BaseAddress = address,
        Timeout = timeout,
    };
}

/// <summary>
/// One long-poll watcher of one service: <c>GET /v1/services/{s}/instances</c>, then <c>?index=N&amp;wait=30s</c> in a
/// loop, as the mesh client does. It notes every new index it is answered with and when the answer arrived; the
/// analysis after the run matches them with the changes. Only this watcher's task writes its list, and the analysis
/// reads it after the task has ended.
/// </summary>
internal sealed class Watcher(int service, int replica)
{
    private const int MaxPolls = 100_000;
    private long _index = -1;
    private int _parked;
    private int _polls;

    public int Service { get; } = service;

    /// <summary>The registry replica this watcher polls.</summary>
    public int Replica { get; } = replica;

    /// <summary>(index, Stopwatch timestamp when the answer's headers arrived), one entry per new index.</summary>
    public List<(long Index, long At)> Seen { get; } = [];

    /// <summary>Answers received, of any kind (read while the watcher runs, hence volatile).</summary>
    public int Polls => Volatile.Read(ref _polls);

    public int Errors { get; private set; }

    /// <summary>The last index this watcher was answered with; -1 before its first answer.</summary>
    public long Index => Interlocked.Read(ref _index);

    /// <summary>True while a long poll (with an index) is out.</summary>
    public bool Parked => Volatile.Read(ref _parked) != 0;

    public async Task RunAsync(HttpClient client, string token, string wait, CancellationToken cancellationToken)
    {
        var path = $"/v1/services/{RegistryServer.ServiceName(Service)}/instances";
        var auth = new AuthenticationHeaderValue("Bearer", token);
        for (var poll = 0; poll < MaxPolls && !cancellationToken.IsCancellationRequested; poll++)
        {
            var index = Index;
            var uri = index < 0 ? path : $"{path}?index={index.ToString(CultureInfo.InvariantCulture)}&wait={wait}";
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(uri, UriKind.Relative));
                request.Headers.Authorization = auth;
                Volatile.Write(ref _parked, index < 0 ? 0 : 1);
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                var at = Stopwatch.GetTimestamp();
                Volatile.Write(ref _parked, 0);
                Interlocked.Increment(ref _polls);
                if (!response.IsSuccessStatusCode)
                {
                    Errors++;
                    await Task.Delay(200, cancellationToken);
                    continue;
                }

                // Read the body as a client would: the index it carries is the one that counts.
                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
                using var json = await JsonDocument.ParseAsync(body, default, cancellationToken);
                var seen = json.RootElement.GetProperty("index").GetInt64();
                if (seen != index)
                {
                    Seen.Add((seen, at));
                    Interlocked.Exchange(ref _index, seen);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or IOException or KeyNotFoundException)
            {
                Volatile.Write(ref _parked, 0);
                Errors++;
                if (Errors <= 3)
                {
                    Console.Error.WriteLine($"watcher of {RegistryServer.ServiceName(Service)}: {ex.GetType().Name}: {ex.Message}");
                }

                try
                {
                    await Task.Delay(200, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        Volatile.Write(ref _parked, 0);
    }

    /// <summary>When this watcher first saw <paramref name="index"/> or a later one; null if it never did.</summary>
    public long? FirstSaw(long index)
    {
        foreach (var (i, at) in Seen)
        {
            if (i >= index)
            {
                return at;
            }
        }

        return null;
    }
}

/// <summary>
/// Closed-loop renewers: each sends the next instance's renewal (a PUT with the same body) as soon as the previous one
/// is answered, round-robin over all loaded instances, until the time is up. Latencies of the measured window are kept
/// per renewer (no sharing), merged afterwards. Renewer r sends through replica r mod replicas (one client each).
/// </summary>
internal sealed class Renewers(HttpClient[] clients, Instance[] instances, string[] tokens)
{
    private const int MaxRenewalsPerRenewer = 5_000_000;
    private long _cursor = -1;

    public async Task<RenewalResult> RunAsync(int renewers, TimeSpan warmup, TimeSpan duration, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var measureFrom = warmup;
        var measureTo = warmup + duration;
        var workers = Enumerable.Range(0, renewers)
            .Select(r => Task.Run(() => RenewLoopAsync(clients[r % clients.Length], clock, measureFrom, measureTo, cancellationToken), cancellationToken))
            .ToArray();
        var results = await Task.WhenAll(workers);
        var latencies = results.SelectMany(r => r.Latencies).ToArray();
        var perReplica = Enumerable.Range(0, clients.Length)
            .Select(c => results.Where((_, r) => r % clients.Length == c).SelectMany(r => r.Latencies).ToArray())
            .Select(l => new ReplicaRenewals(l.Length, l))
            .ToArray();
        return new RenewalResult(
            latencies.Length,
            results.Sum(r => r.Errors),
            results.Sum(r => r.Unexpected),
            duration,
            latencies,
            perReplica);
    }

    private async Task<(List<double> Latencies, int Errors, int Unexpected)> RenewLoopAsync(HttpClient client, Stopwatch clock, TimeSpan from, TimeSpan to,
        CancellationToken cancellationToken)
    {
        var latencies = new List<double>(64 * 1024);
        var errors = 0;
        var unexpected = 0;
        for (var n = 0; n < MaxRenewalsPerRenewer && !cancellationToken.IsCancellationRequested; n++)
        {
            var started = clock.Elapsed;
            if (started >= to)
            {
                break;
            }

            var instance = instances[(int)(Interlocked.Increment(ref _cursor) % instances.Length)];
            try
            {
                using var request = Api.Put(instance.Path, instance.Body, tokens[instance.Service]);
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
                var ended = clock.Elapsed;
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    // A renewal of a known instance with the same body answers 200; 201 would mean it had gone.
                    if (response.IsSuccessStatusCode)
                    {
                        unexpected++;
                    }
                    else
                    {
                        errors++;
                        if (errors <= 3)
                        {
                            Console.Error.WriteLine($"renewal of {instance.Path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
                        }
                    }
                }
                else if (started >= from && ended <= to)
                {
                    latencies.Add((ended - started).TotalMilliseconds);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                errors++;
                if (errors <= 3)
                {
                    Console.Error.WriteLine($"renewal of {instance.Path}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }

        return (latencies, errors, unexpected);
    }
}

/// <summary>The measured renewals sent through one replica.</summary>
internal sealed record ReplicaRenewals(int Renewals, double[] LatenciesMs);

internal sealed record RenewalResult(int Renewals, int Errors, int Unexpected, TimeSpan Window, double[] LatenciesMs, ReplicaRenewals[] PerReplica)
{
    public double PerSecond => Renewals / Window.TotalSeconds;
}

/// <summary>Change propagation over all (change, watcher of its service) pairs, and per change its last watcher.</summary>
internal sealed record PropagationResult(int Changes, int Pairs, int Missed, double[] PairMs, double[] LastMs)
{
    /// <summary>Over the watchers <paramref name="include"/> takes (all when null).</summary>
    public static PropagationResult Analyze(IReadOnlyList<Change> changes, IReadOnlyList<Watcher>[] watchersByService, Func<Watcher, bool>? include = null)
    {
        var pairs = new List<double>();
        var last = new List<double>();
        var missed = 0;
        foreach (var change in changes)
        {
            double? worst = null;
            foreach (var watcher in watchersByService[change.Service])
            {
                if (include is not null && !include(watcher))
                {
                    continue;
                }

                if (watcher.FirstSaw(change.Index) is not { } at)
                {
                    missed++;
                    continue;
                }

                // A watcher may see the change before the registrar has read its own answer; that is 0, not negative.
                var ms = Math.Max(0, Stopwatch.GetElapsedTime(change.AckedAt, at).TotalMilliseconds);
                pairs.Add(ms);
                worst = Math.Max(worst ?? 0, ms);
            }

            if (worst is { } w)
            {
                last.Add(w);
            }
        }

        return new PropagationResult(changes.Count, pairs.Count + missed, missed, [.. pairs], [.. last]);
    }
}

internal static class Stats
{
    /// <summary>The nearest-rank percentile (p in 0..100) of <paramref name="values"/>; NaN when there are none.</summary>
    public static double Percentile(double[] values, double p)
    {
        if (values.Length == 0)
        {
            return double.NaN;
        }

        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Max(double[] values) => values.Length == 0 ? double.NaN : values.Max();
}
