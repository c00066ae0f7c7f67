using System.Collections.Concurrent;
using System.Diagnostics;
using Mesh.Client.Runtime;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests;

/// <summary>
/// Graceful shutdown under load: an instance told to stop (what SIGTERM does in-process: ApplicationStopping, then the
/// host's StopAsync) deregisters first, keeps serving for the drain delay on its own clock, and only then lets Kestrel
/// stop. Callers run without retries, so every lost request shows.
/// </summary>
[Collection(nameof(DrainTests))]
[CollectionDefinition(nameof(DrainTests), DisableParallelization = true)]
public sealed class DrainTests(ITestOutputHelper output)
{
    private static readonly string[] Services = ["reviews", "productpage"];
    private static readonly TimeSpan Drain = TimeSpan.FromSeconds(2);
    private static readonly Uri Reviews = new("http://reviews/");

    [Fact]
    public async Task A_stopping_instance_deregisters_then_keeps_accepting_for_the_drain_delay_and_no_request_fails()
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        var admin = registry.Admin;
        await using var staying = await StartInstanceAsync(registry, "v1");
        await using var leaving = await StartInstanceAsync(registry, "v2");
        await using var mesh = Client(registry);
        await Poll.UntilAsync(() => Endpoints(mesh) == 2, because: "the client sees both instances");

        await using var traffic = Traffic.Start(mesh.Client, callers: 8, perSecond: null);
        await Poll.UntilAsync(() => traffic.Answers("reviews:v1") > 50 && traffic.Answers("reviews:v2") > 50, because: "both instances serve the callers");

        var before = await ProbeAsync(leaving.Port, "/");
        var healthBefore = await ProbeAsync(leaving.Port, "/healthz");

        // What SIGTERM does in-process: ApplicationStopping, then the host's StopAsync.
        leaving.App.Lifetime.StopApplication();
        var shutdown = leaving.App.WaitForShutdownAsync();
        await Poll.UntilAsync(async () => !await RegisteredAsync(admin, leaving.Port), because: "the stopping instance deregisters");

        // Deregistered, and the drain delay has not passed on the app's clock: a new connection is accepted and served.
        var during = await ProbeAsync(leaving.Port, "/");
        var healthDuring = await ProbeAsync(leaving.Port, "/healthz");
        var stoppedBeforeDrainEnded = shutdown.IsCompleted;
        await Poll.UntilAsync(() => Endpoints(mesh) == 1, because: "the client's watch drops the deregistered instance");
        await traffic.SettleAsync();
        await EndDrainAsync(leaving.Time, shutdown);

        var sent = traffic.Sent;
        await Poll.UntilAsync(() => traffic.Sent > sent + 100, because: "traffic keeps flowing to the remaining instance");
        await traffic.StopAsync();
        output.WriteLine($"sent {traffic.Sent}, ok {traffic.Ok}, failed {traffic.Failures.Count}");
        foreach (var failure in traffic.Failures.Take(10))
        {
            output.WriteLine(failure);
        }

        before.ShouldBe(new Probe(200, "reviews:v2", ConnectionClose: false));
        healthBefore.Status.ShouldBe(200);
        during.ShouldBe(new Probe(200, "reviews:v2", ConnectionClose: true), "the port serves a new connection after deregistration, during the drain");
        healthDuring.ShouldBe(new Probe(503, "Unhealthy", ConnectionClose: true), "/healthz reports the drain");
        stoppedBeforeDrainEnded.ShouldBeFalse();
        traffic.Failures.ShouldBeEmpty();
        traffic.Ok.ShouldBe(traffic.Sent);
    }

    [Fact]
    public Task A_rolling_restart_of_three_instances_at_500_requests_per_second_loses_no_request() => RollingRestartAsync(rounds: 1);

    [Fact]
    [Trait("Category", "Soak")]
    public Task Ten_rolling_restarts_of_three_instances_at_500_requests_per_second_lose_no_request() => RollingRestartAsync(rounds: 10);

    /// <summary>
    /// Three instances, each replaced in turn (<paramref name="rounds"/> times over): the new one starts and joins, the
    /// old one is stopped as SIGTERM would and its drain ends once the callers' client has dropped it.
    /// </summary>
    private async Task RollingRestartAsync(int rounds)
    {
        await using var registry = await RegistryHost.StartAsync(services: Services);
        await using var mesh = Client(registry);
        var instances = new List<Instance>();
        var generation = 0;
        try
        {
            for (var i = 0; i < 3; i++)
            {
                instances.Add(await StartInstanceAsync(registry, $"v{++generation}"));
            }

            await Poll.UntilAsync(() => Endpoints(mesh) == 3, because: "the client sees the three instances");
            await using var traffic = Traffic.Start(mesh.Client, callers: 8, perSecond: 500);
            var clock = Stopwatch.StartNew();
            await Poll.UntilAsync(() => traffic.Ok > 200, because: "traffic flows before the restart");
            for (var round = 0; round < rounds; round++)
            {
                for (var i = 0; i < instances.Count; i++)
                {
                    var old = instances[i];
                    instances[i] = await StartInstanceAsync(registry, $"v{++generation}");
                    await Poll.UntilAsync(() => Endpoints(mesh) == 4, because: "the replacement joins before the old instance stops");

                    old.App.Lifetime.StopApplication();
                    var shutdown = old.App.WaitForShutdownAsync();
                    await Poll.UntilAsync(() => Endpoints(mesh) == 3, because: "the client drops the stopping instance");
                    await traffic.SettleAsync();
                    await EndDrainAsync(old.Time, shutdown);
                    await old.DisposeAsync();
                }
            }

            var sent = traffic.Sent;
            await Poll.UntilAsync(() => traffic.Sent > sent + 200, because: "traffic keeps flowing after the restart");
            await traffic.StopAsync();
            var elapsed = clock.Elapsed;
            output.WriteLine($"{rounds} round(s): sent {traffic.Sent} in {elapsed.TotalSeconds:F1} s ({traffic.Sent / elapsed.TotalSeconds:F0}/s), " +
                $"ok {traffic.Ok}, failed {traffic.Failures.Count}");
            foreach (var failure in traffic.Failures.Take(10))
            {
                output.WriteLine(failure);
            }

            traffic.Failures.ShouldBeEmpty();
            traffic.Ok.ShouldBe(traffic.Sent);
            foreach (var instance in instances)
            {
                traffic.Answers($"reviews:{instance.Version}").ShouldBeGreaterThan(0, $"the replacement {instance.Version} served traffic");
            }
        }
        finally
        {
            foreach (var instance in instances)
            {
                await instance.DisposeAsync();
            }
        }
    }

    /// <summary>A meshed reviews instance whose mesh (the drain delay included) runs on a clock the test moves.</summary>
    private static async Task<Instance> StartInstanceAsync(RegistryHost registry, string version)
    {
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var app = await registry.StartAppAsync("reviews", version, app => app.MapGet("/", () => $"reviews:{version}"), Drain, time);
        return new Instance(app, time, version, new Uri(app.Urls.First()).Port);
    }

    /// <summary>
    /// Moves the stopping app's clock past the drain delay until its shutdown completes. The test ends the drain as
    /// soon as the callers' client has dropped the instance and the requests that picked it before have completed:
    /// what a real drain delay must cover (watch latency, requests in flight) happens first, the rest of it is idle.
    /// </summary>
    private static Task EndDrainAsync(ManualTimeProvider time, Task shutdown) => Poll.UntilAsync(() =>
    {
        time.Advance(Drain);
        return shutdown.IsCompleted;
    }, because: "the shutdown completes once the drain delay has passed");

    private static MeshTestClient Client(RegistryHost registry) => MeshTestClient.Create(new
    {
        Service = new { Name = "productpage" },
        Registry = new { Url = registry.Address, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },

        // No retries: a request lost to the shutdown must show as a failure, not be hidden by a second attempt.
        Services = new Dictionary<string, object>
        {
            ["reviews"] = new { LoadBalancer = new { Policy = "RoundRobin" }, Routes = new object[] { new { Name = "all", Retry = new { Attempts = 0 } } } },
        },
    });

    private static int Endpoints(MeshTestClient mesh) =>
        mesh.GetService<MeshRuntime>().Model.Services.TryGetValue("reviews", out var s) ? s.Endpoints.Length : 0;

    private static async Task<bool> RegisteredAsync(HttpClient admin, int port) =>
        (await admin.GetStringAsync(new Uri("/v1/services/reviews/instances", UriKind.Relative))).Contains($"//127.0.0.1:{port}\"", StringComparison.Ordinal);

    /// <summary>A request on a connection of its own (plaintext, which the permissive mesh port serves).</summary>
    private static async Task<Probe> ProbeAsync(int port, string path)
    {
        using var client = new HttpClient(new SocketsHttpHandler());
        try
        {
            using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
            return new Probe((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.ConnectionClose == true);
        }
        catch (HttpRequestException ex)
        {
            return new Probe(0, ex.Message, ConnectionClose: false);
        }
    }

    private sealed record Probe(int Status, string Body, bool ConnectionClose);

    private sealed record Instance(WebApplication App, ManualTimeProvider Time, string Version, int Port) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }

    /// <summary>
    /// Callers in loops through the meshed client, optionally held to a total rate; every request is accounted for:
    /// each one started completes, as a success or as a failure with its reason.
    /// </summary>
    private sealed class Traffic : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentQueue<string> _failures = new();
        private readonly ConcurrentDictionary<string, int> _answers = new(StringComparer.Ordinal);
        private Task[] _callers = [];
        private long[] _started = [];
        private long[] _completed = [];
        private long _sent;
        private long _ok;

        public long Sent => Interlocked.Read(ref _sent);

        public long Ok => Interlocked.Read(ref _ok);

        public ConcurrentQueue<string> Failures => _failures;

        public int Answers(string body) => _answers.GetValueOrDefault(body);

        public static Traffic Start(HttpClient client, int callers, double? perSecond)
        {
            var traffic = new Traffic { _started = new long[callers], _completed = new long[callers] };
            var interval = perSecond is { } rate ? TimeSpan.FromSeconds(callers / rate) : TimeSpan.Zero;
            traffic._callers = Enumerable.Range(0, callers).Select(i => Task.Run(() => traffic.CallAsync(i, client, interval))).ToArray();
            return traffic;
        }

        /// <summary>Waits until every request started so far has completed (each caller has one at a time).</summary>
        public Task SettleAsync()
        {
            var mark = new long[_started.Length];
            for (var i = 0; i < mark.Length; i++)
            {
                mark[i] = Interlocked.Read(ref _started[i]);
            }

            return Poll.UntilAsync(() =>
            {
                for (var i = 0; i < mark.Length; i++)
                {
                    if (Interlocked.Read(ref _completed[i]) < mark[i])
                    {
                        return false;
                    }
                }

                return true;
            }, because: "the requests in flight complete");
        }

        private async Task CallAsync(int caller, HttpClient client, TimeSpan interval)
        {
            var clock = Stopwatch.StartNew();
            var next = TimeSpan.Zero;
            while (!_stop.IsCancellationRequested)
            {
                if (interval > TimeSpan.Zero)
                {
                    // The pace: one request per interval; a caller that fell far behind restarts the schedule
                    // instead of bursting to catch up.
                    next += interval;
                    var wait = next - clock.Elapsed;
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait);
                    }
                    else if (wait < -TimeSpan.FromSeconds(1))
                    {
                        next = clock.Elapsed;
                    }
                }

                Interlocked.Increment(ref _sent);
                Interlocked.Increment(ref _started[caller]);
                try
                {
                    using var response = await client.GetAsync(Reviews);
                    var body = await response.Content.ReadAsStringAsync();
                    if (response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref _ok);
                        _answers.AddOrUpdate(body, 1, static (_, n) => n + 1);
                    }
                    else
                    {
                        _failures.Enqueue($"{(int)response.StatusCode}: {body}");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    _failures.Enqueue($"{ex.GetType().Name}: {ex.Message} {ex.InnerException?.Message}");
                }
                finally
                {
                    Interlocked.Increment(ref _completed[caller]);
                }
            }
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_callers);
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            _stop.Dispose();
        }
    }
}
