using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Client.Registry;
using Mesh.Registry.Tests;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests;

/// <summary>
/// The control plane beyond one machine, with real parts only: a 3-member etcd cluster (real etcd processes on
/// loopback), two registry replicas (real registry processes on the etcd store, one shared CA folder), three meshed
/// apps that register, renew and watch through both replicas, and a client at about 500 requests/s, while a writer
/// registers an instance and writes a policy version every second. Parts are SIGKILLed and restarted; afterwards no
/// request failed and every acknowledged write is still there.
/// </summary>
[Trait("Category", "Soak")]
public sealed class RegistryReplicaTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Service = "reviews";
    private static readonly string[] JoinServices = [Service, "productpage", "inventory"];

    private readonly string _caPath = Directory.CreateTempSubdirectory("mesh-replica-ca-").FullName;
    private readonly string _prefix = $"/meshlib-replicas/{Guid.NewGuid():N}/";
    private readonly RegistryProcess?[] _replicas = new RegistryProcess?[2];
    private readonly int[] _ports = new int[2];
    private readonly List<WebApplication> _apps = [];
    private readonly ConcurrentDictionary<string, bool> _registered = new();
    private readonly ConcurrentDictionary<long, string> _policies = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private EtcdCluster _etcd = null!;
    private MeshTestClient _client = null!;
    private long _requests;
    private int _writes;

    public async Task InitializeAsync()
    {
        _etcd = await EtcdCluster.StartAsync(members: 3);
        for (var i = 0; i < _replicas.Length; i++)
        {
            _replicas[i] = await RegistryProcess.StartAsync(Environment());
            _ports[i] = _replicas[i]!.Address.Port;
        }

        for (var i = 0; i < 3; i++)
        {
            _apps.Add(await StartAppAsync($"v1"));
        }

        _client = MeshTestClient.Create(new
        {
            Service = new { Name = "productpage" },
            Registry = new { Urls = Urls, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },
            Services = new Dictionary<string, object> { [Service] = new { LoadBalancer = new { Policy = "RoundRobin" } } },
        });
        await Poll.UntilAsync(() => Endpoints == 3, TimeSpan.FromSeconds(30), "the client sees the three apps");
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        foreach (var app in _apps)
        {
            await app.DisposeAsync();
        }

        foreach (var replica in _replicas)
        {
            if (replica is not null)
            {
                await replica.DisposeAsync();
            }
        }

        await _etcd.DisposeAsync();
        Directory.Delete(_caPath, recursive: true);
    }

    private Uri[] Urls => [.. _ports.Select(p => new Uri($"http://127.0.0.1:{p}"))];

    private int Endpoints => _client.GetService<RegistryDiscoverySource>().TryGetEndpoints(Service, out var endpoints) ? endpoints.Count : 0;

    private long ClientPolicyMark =>
        _client.GetService<RegistryDiscoverySource>().TryGetPolicy(Service, out var policy) ? policy.RetryBudget.MinRetriesPerSecond : -1;

    [Fact]
    public async Task Killing_one_etcd_member_fails_no_request_and_loses_no_acknowledged_write()
    {
        await RunAsync(TimeSpan.FromSeconds(12), async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(4));
            _etcd.Kill(0);
            output.WriteLine("etcd member 0 killed");
        });

        AssertNoRequestFailed();
        _writes.ShouldBeGreaterThan(8, "writes go on with two of three members");
        await AssertAcknowledgedWritesAsync(_replicas[0]!);
        await AssertAcknowledgedWritesAsync(_replicas[1]!);
    }

    [Fact]
    public async Task Killing_the_watched_replica_fails_no_request_and_the_next_policy_change_arrives_through_the_other()
    {
        await RunAsync(TimeSpan.FromSeconds(8), async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3));
            _replicas[0]!.Kill();
            output.WriteLine("replica 0 killed");
        }, writes: false);

        AssertNoRequestFailed();

        // Each change is written through the surviving replica; the client's watch, moved there, brings it.
        var latencies = new List<TimeSpan>();
        using var admin = _replicas[1]!.Client(RegistryHost.AdminToken);
        for (var mark = 1000; mark < 1005; mark++)
        {
            var started = TimeProvider.System.GetTimestamp();
            (await admin.PutAsync(new Uri($"/v1/policies/{Service}", UriKind.Relative), PolicyBody(mark))).EnsureSuccessStatusCode();
            var expected = mark;
            await Poll.UntilAsync(() => ClientPolicyMark == expected, TimeSpan.FromSeconds(10), $"policy mark {mark} reaches the client");
            latencies.Add(TimeProvider.System.GetElapsedTime(started));
        }

        output.WriteLine($"policy change to client through the surviving replica: {string.Join(", ", latencies.Select(l => $"{l.TotalMilliseconds:0} ms"))}");
        latencies.Order().ElementAt(latencies.Count / 2).ShouldBeLessThan(TimeSpan.FromSeconds(1), "the median change reaches the client within 1 s");
    }

    [Fact]
    public async Task Without_a_quorum_writes_answer_503_clients_keep_routing_and_everything_acknowledged_returns()
    {
        await RunAsync(TimeSpan.FromSeconds(4), () => Task.CompletedTask);
        var acknowledged = _writes;

        _etcd.Kill(1);
        _etcd.Kill(2);
        output.WriteLine("etcd members 1 and 2 killed");

        // Writes fail within their timeout (2 s here), as problem+json that names the cause; none hangs.
        using (var admin = _replicas[0]!.Client(RegistryHost.AdminToken))
        {
            var started = TimeProvider.System.GetTimestamp();
            using var response = await admin.PutAsync(new Uri($"/v1/policies/{Service}", UriKind.Relative), PolicyBody(99));
            var took = TimeProvider.System.GetElapsedTime(started);
            var body = await response.Content.ReadAsStringAsync();
            output.WriteLine($"write without a quorum: {(int)response.StatusCode} after {took.TotalMilliseconds:0} ms: {body}");
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
            body.ShouldContain("etcd");
            took.ShouldBeLessThan(TimeSpan.FromSeconds(15), "the write gives up at its timeout instead of hanging");

            using var registration = await admin.RegisterAsync("inventory", "during-outage", "http://127.0.0.1:9", ttl: 3600);
            registration.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        }

        // Clients route on their last state meanwhile.
        await RunAsync(TimeSpan.FromSeconds(6), () => Task.CompletedTask, writes: false);
        AssertNoRequestFailed();

        await _etcd.RestartAsync(1);
        await _etcd.RestartAsync(2);
        output.WriteLine("etcd members 1 and 2 restarted");
        await Poll.UntilAsync(async () => (await TryWriteAsync(_replicas[0]!)) is not null, TimeSpan.FromSeconds(30), "writes succeed again");
        acknowledged.ShouldBeGreaterThan(2);
        await AssertAcknowledgedWritesAsync(_replicas[0]!);
        await AssertAcknowledgedWritesAsync(_replicas[1]!);
    }

    [Fact]
    public async Task After_restarting_everything_every_registration_and_policy_is_still_there()
    {
        await RunAsync(TimeSpan.FromSeconds(5), () => Task.CompletedTask);
        for (var i = 0; i < _replicas.Length; i++)
        {
            _replicas[i]!.Kill();
            await _replicas[i]!.DisposeAsync();
            _replicas[i] = null;
        }

        _etcd.KillAll();
        output.WriteLine("every etcd member and both replicas killed");
        await _etcd.RestartAllAsync();
        for (var i = 0; i < _replicas.Length; i++)
        {
            _replicas[i] = await RegistryProcess.StartAsync(Environment(), port: _ports[i]);
        }

        await AssertAcknowledgedWritesAsync(_replicas[0]!);
        await AssertAcknowledgedWritesAsync(_replicas[1]!);

        // The apps renew through the restarted replicas and stay listed; the client sees them all.
        using var admin = _replicas[1]!.Client(RegistryHost.AdminToken);
        await Poll.UntilAsync(async () => (await admin.InstanceIdsAsync(Service)).Count == 3, TimeSpan.FromSeconds(30), "the apps are still registered");
        await RunAsync(TimeSpan.FromSeconds(3), () => Task.CompletedTask, writes: false);
        AssertNoRequestFailed();
    }

    /// <summary>Runs the client's load (and, unless told not to, the writer) for <paramref name="duration"/>, with <paramref name="fault"/> beside them.</summary>
    private async Task RunAsync(TimeSpan duration, Func<Task> fault, bool writes = true)
    {
        using var stop = new CancellationTokenSource(duration);
        var load = Enumerable.Range(0, 8).Select(_ => LoadAsync(stop.Token)).ToList();
        var writer = writes ? WriteAsync(stop.Token) : Task.CompletedTask;
        await fault();
        await Task.WhenAll([.. load, writer]);
        output.WriteLine($"{Interlocked.Read(ref _requests)} requests so far, {_failures.Count} failed; {_writes} acknowledged writes");
    }

    /// <summary>One of eight callers, each about 60 requests/s: about 500 requests/s in all.</summary>
    private async Task LoadAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var response = await _client.Client.GetAsync(new Uri($"http://{Service}/"), CancellationToken.None);
                if (!response.IsSuccessStatusCode)
                {
                    _failures.Enqueue($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(CancellationToken.None)}");
                }
            }
            catch (HttpRequestException ex)
            {
                _failures.Enqueue(ex.Message);
            }

            Interlocked.Increment(ref _requests);
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(16), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Every second, through the replicas in turn: a new registration and a new policy version, each recorded once acknowledged.</summary>
    private async Task WriteAsync(CancellationToken stop)
    {
        var turn = 0;
        while (!stop.IsCancellationRequested)
        {
            var replica = _replicas[turn++ % _replicas.Length];
            if (replica is not null && await TryWriteAsync(replica) is { } written)
            {
                output.WriteLine($"acknowledged {written}");
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One registration and one policy version; what was acknowledged, or null when neither was.</summary>
    private async Task<string?> TryWriteAsync(RegistryProcess replica)
    {
        var n = Interlocked.Increment(ref _writes);
        using var admin = replica.Client(RegistryHost.AdminToken);
        admin.Timeout = TimeSpan.FromSeconds(20);
        string? written = null;
        try
        {
            var id = $"i-{n}";
            using var registration = await admin.RegisterAsync("inventory", id, $"http://127.0.0.1:{10000 + n}", ttl: 3600);
            if (registration.IsSuccessStatusCode)
            {
                _registered[id] = true;
                written = id;
            }

            using var policy = await admin.PutAsync(new Uri($"/v1/policies/{Service}", UriKind.Relative), PolicyBody(n));
            if (policy.IsSuccessStatusCode)
            {
                var version = (await policy.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("version").GetInt64();
                _policies[version] = PolicyDocument(n);
                written += $" policy v{version}";
            }
        }
        catch (HttpRequestException)
        {
            // The replica is gone: nothing was acknowledged.
        }
        catch (TaskCanceledException)
        {
            // No answer in time: nothing was acknowledged.
        }

        if (written is null)
        {
            Interlocked.Decrement(ref _writes);
        }

        return written;
    }

    private async Task AssertAcknowledgedWritesAsync(RegistryProcess replica)
    {
        using var admin = replica.Client(RegistryHost.AdminToken);
        var ids = await admin.InstanceIdsAsync("inventory");
        foreach (var id in _registered.Keys)
        {
            ids.ShouldContain(id, $"acknowledged registration {id} at {replica.Address}");
        }

        var history = await admin.GetFromJsonAsync<JsonElement>(new Uri($"/v1/policies/{Service}/history?limit=1000", UriKind.Relative));
        var versions = history.GetProperty("versions").EnumerateArray()
            .ToDictionary(v => v.GetProperty("version").GetInt64(), v => v.GetProperty("document").GetRawText());
        foreach (var (version, document) in _policies)
        {
            versions.ShouldContainKey(version, $"acknowledged policy version {version} at {replica.Address}");
            JsonSerializer.Deserialize<JsonElement>(versions[version]).GetProperty("RetryBudget").GetProperty("MinRetriesPerSecond").GetInt32()
                .ShouldBe(JsonSerializer.Deserialize<JsonElement>(document).GetProperty("RetryBudget").GetProperty("MinRetriesPerSecond").GetInt32());
        }

        output.WriteLine($"{replica.Address}: all {_registered.Count} acknowledged registrations and {_policies.Count} policy versions are there");
    }

    private void AssertNoRequestFailed()
    {
        Interlocked.Read(ref _requests).ShouldBeGreaterThan(0);
        _failures.ShouldBeEmpty($"of {_requests} requests: {string.Join("; ", _failures.Take(5))}");
    }

    private static string PolicyDocument(int mark) => $$"""{ "LoadBalancer": { "Policy": "RoundRobin" }, "RetryBudget": { "MinRetriesPerSecond": {{mark}} } }""";

    private static StringContent PolicyBody(int mark) => Api.Json(PolicyDocument(mark));

    private Dictionary<string, string> Environment()
    {
        var env = new Dictionary<string, string>
        {
            ["MeshRegistry__Store"] = "Etcd",
            ["MeshRegistry__Etcd__Prefix"] = _prefix,
            ["MeshRegistry__Etcd__RequestTimeout"] = "00:00:02",
            ["MeshRegistry__CaPath"] = _caPath,
            ["MeshRegistry__AdminToken"] = RegistryHost.AdminToken,
        };
        for (var i = 0; i < _etcd.ClientEndpoints.Count; i++)
        {
            env[$"MeshRegistry__Etcd__Endpoints__{i}"] = _etcd.ClientEndpoints[i].ToString().TrimEnd('/');
        }

        foreach (var service in JoinServices)
        {
            env[$"MeshRegistry__JoinTokens__{service}"] = RegistryHost.JoinToken(service);
        }

        return env;
    }

    /// <summary>A meshed app of the service that answers its version, joined to both replicas.</summary>
    private async Task<WebApplication> StartAppAsync(string version)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var settings = new Dictionary<string, string?>
        {
            ["Mesh:Service:Name"] = Service,
            ["Mesh:Service:Version"] = version,
            ["Mesh:Registry:Token"] = RegistryHost.JoinToken(Service),
            ["Mesh:Registry:CacheDirectory"] = string.Empty,
        };
        for (var i = 0; i < _ports.Length; i++)
        {
            settings[$"Mesh:Registry:Urls:{i}"] = $"http://127.0.0.1:{_ports[i]}";
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddMesh();
        var app = builder.Build();
        app.UseMesh();
        app.MapMeshEndpoints();
        app.MapGet("/", () => $"{Service}:{version}");
        await app.StartAsync();
        return app;
    }
}
