using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Client.Runtime;
using Mesh.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests;

/// <summary>
/// These tests send thousands of requests and one of them compares endpoint latencies, so they run alone: they neither
/// disturb nor are disturbed by the timing of tests in other classes.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunAloneTraffic
{
    public const string Name = "Traffic tests (run alone)";
}

[Collection(RunAloneTraffic.Name)]
public sealed class TrafficTests(ITestOutputHelper output)
{
    private const string MeshMeter = "Mesh.Client";

    [Fact]
    public async Task Faults_hit_their_share_of_requests_are_counted_and_aborts_never_reach_the_backend()
    {
        await using var abortBackend = await TestBackend.StartAsync("abort-backend");
        await using var delayBackend = await TestBackend.StartAsync("delay-backend");
        await using var grpcBackend = await TestBackend.StartAsync("grpc-backend");
        var abortService = UniqueName("abort");
        var delayService = UniqueName("delay");
        var grpcService = UniqueName("grpc");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [abortService] = OneRouteService(abortBackend, new
                {
                    Name = "default",
                    Retry = new { Attempts = 0 },
                    Fault = new { Abort = new { Percentage = 30, HttpStatus = 503 } },
                }),
                [delayService] = OneRouteService(delayBackend, new
                {
                    Name = "default",
                    Retry = new { Attempts = 0 },
                    Fault = new { Delay = new { Percentage = 20, FixedDelay = "00:00:00.001" } },
                }),
                [grpcService] = OneRouteService(grpcBackend, new
                {
                    Name = "default",
                    Retry = new { Attempts = 0 },
                    Fault = new { Abort = new { Percentage = 100, GrpcStatus = 14 } },
                }),
            },
        });
        using var faults = Counter(mesh, "mesh.faults.injected");
        using var requests = Counter(mesh, "mesh.requests");

        // Abort: 30% answered 503 by the mesh itself, the rest by the backend.
        const int total = 5_000;
        var aborted = 0;
        var succeeded = 0;
        var other = 0;
        await RunAsync(total, 8, async (_, ct) =>
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://{abortService}/api/items/1"), ct);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable &&
                response.Headers.TryGetValues("x-mesh-fault", out var fault) && fault.Single() == "abort")
            {
                Interlocked.Increment(ref aborted);
            }
            else if (response.StatusCode == HttpStatusCode.OK && await response.Content.ReadAsStringAsync(ct) == "abort-backend")
            {
                Interlocked.Increment(ref succeeded);
            }
            else
            {
                Interlocked.Increment(ref other);
            }
        });

        other.ShouldBe(0);
        (aborted + succeeded).ShouldBe(total);
        output.WriteLine($"aborted {aborted} of {total}");
        (aborted / (double)total).ShouldBeInRange(0.27, 0.33);
        abortBackend.Requests.ShouldBe(succeeded, "aborted requests must never reach the backend");
        faults.Sum(t => t["destination_service"] == abortService && t["fault"] == "abort").ShouldBe(aborted);
        faults.Sum(t => t["destination_service"] == abortService && t["fault"] == "delay").ShouldBe(0);
        requests.Sum(t => t["destination_service"] == abortService).ShouldBe(total);
        requests.Sum(t => t["destination_service"] == abortService && t["response_code"] == "503").ShouldBe(aborted);
        requests.Sum(t => t["destination_service"] == abortService && t["response_code"] == "200").ShouldBe(succeeded);

        // Delay: 20% of the attempts wait a millisecond first; every request still reaches the backend.
        await RunAsync(total, 8, async (_, ct) =>
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://{delayService}/api/items/1"), ct);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        });

        delayBackend.Requests.ShouldBe(total);
        double delayed = faults.Sum(t => t["destination_service"] == delayService && t["fault"] == "delay");
        output.WriteLine($"delayed {delayed} of {total}");
        (delayed / total).ShouldBeInRange(0.17, 0.23);
        faults.Sum(t => t["destination_service"] == delayService && t["fault"] == "abort").ShouldBe(0);
        requests.Sum(t => t["destination_service"] == delayService && t["response_code"] == "200").ShouldBe(total);

        // A gRPC abort is HTTP 200 carrying the gRPC status, as a trailers-only gRPC response is.
        const int grpcCalls = 50;
        for (var i = 0; i < grpcCalls; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{grpcService}/ratings.Ratings/Get")
            {
                Version = HttpVersion.Version20,
                Content = new ByteArrayContent([0, 0, 0, 0, 0]),
            };
            request.Content.Headers.ContentType = new("application/grpc");
            using var response = await mesh.Client.SendAsync(request);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            response.Headers.GetValues("grpc-status").Single().ShouldBe("14");
            response.Headers.GetValues("x-mesh-fault").Single().ShouldBe("abort");
        }

        grpcBackend.Requests.ShouldBe(0, "aborted gRPC calls must never reach the backend");
        faults.Sum(t => t["destination_service"] == grpcService && t["fault"] == "abort").ShouldBe(grpcCalls);
    }

    [Fact]
    public async Task An_abort_meets_its_share_of_calls_despite_retries_unless_the_fault_is_per_attempt()
    {
        await using var backend = await TestBackend.StartAsync("backend");
        var perCall = UniqueName("per-call");
        var perAttempt = UniqueName("per-attempt");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                // No Retry: Istio's default, 2 retries on 503 among others.
                [perCall] = OneRouteService(backend, new
                {
                    Name = "default",
                    Fault = new { Abort = new { Percentage = 30, HttpStatus = 503 } },
                }),

                // The same 2 retries on 503, without backoff to keep the test short, and a budget that never refuses.
                [perAttempt] = new
                {
                    Endpoints = new object[] { new { backend.Address } },
                    Routes = new object[]
                    {
                        new
                        {
                            Name = "default",
                            Retry = new { Attempts = 2, RetryOn = new[] { "503" }, BaseDelay = "00:00:00", MaxDelay = "00:00:00" },
                            Fault = new { Abort = new { Percentage = 30, HttpStatus = 503 }, PerAttempt = true },
                        },
                    },
                    RetryBudget = new { RetryRatio = 1000 },
                },
            },
        });
        using var faults = Counter(mesh, "mesh.faults.injected");
        using var retries = Counter(mesh, "mesh.retries");

        // One call after another: the seeded random source then decides the same faults on every run.
        const int total = 3_000;
        async Task<int> AbortedAsync(string service)
        {
            var aborted = 0;
            for (var i = 0; i < total; i++)
            {
                using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/api/items/{i}"));
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable && response.Headers.GetValues("x-mesh-fault").Single() == "abort")
                {
                    aborted++;
                }
                else
                {
                    response.StatusCode.ShouldBe(HttpStatusCode.OK);
                }
            }

            return aborted;
        }

        // Once per call: 30% of the calls get the abort as their answer, and none of them is retried.
        var perCallAborted = await AbortedAsync(perCall);
        output.WriteLine($"per call: {perCallAborted} of {total} aborted");
        (perCallAborted / (double)total).ShouldBeInRange(0.27, 0.33);
        retries.Sum(t => t["destination_service"] == perCall).ShouldBe(0);
        faults.Sum(t => t["destination_service"] == perCall).ShouldBe(perCallAborted);
        backend.Requests.ShouldBe(total - perCallAborted);

        // Per attempt: a call fails only when all three attempts are aborted, 0.3^3 = 2.7% of calls.
        var perAttemptAborted = await AbortedAsync(perAttempt);
        var perAttemptRetries = retries.Sum(t => t["destination_service"] == perAttempt);
        output.WriteLine($"per attempt: {perAttemptAborted} of {total} aborted, {perAttemptRetries} retries");
        (perAttemptAborted / (double)total).ShouldBeInRange(0.027 - 0.03, 0.027 + 0.03);
        faults.Sum(t => t["destination_service"] == perAttempt).ShouldBe(perAttemptRetries + perAttemptAborted); // each aborted attempt was retried or was the answer
        backend.Requests.ShouldBe(total - perCallAborted + total - perAttemptAborted);
    }

    [Fact]
    public async Task A_fault_on_one_route_does_not_affect_requests_on_another_route()
    {
        var paths = new ConcurrentQueue<string>();
        await using var backend = await TestBackend.StartAsync("backend", async context =>
        {
            paths.Enqueue(context.Request.Path.Value ?? string.Empty);
            await context.Response.WriteAsync("backend");
        });
        var service = UniqueName("scoped");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new object[] { new { backend.Address } },
                    Routes = new object[]
                    {
                        new
                        {
                            Name = "faulty",
                            Match = new { PathPrefix = "/faulty" },
                            Retry = new { Attempts = 0 },
                            Fault = new { Abort = new { Percentage = 100, HttpStatus = 503 } },
                        },
                        new { Name = "healthy", Retry = new { Attempts = 0 } },
                    },
                },
            },
        });
        using var faults = Counter(mesh, "mesh.faults.injected");

        const int perRoute = 300;
        var faultyStatuses = new ConcurrentBag<HttpStatusCode>();
        var healthyStatuses = new ConcurrentBag<HttpStatusCode>();
        await RunAsync(2 * perRoute, 8, async (i, ct) =>
        {
            var faulty = i % 2 == 0;
            var uri = new Uri(faulty ? $"http://{service}/faulty/items/{i}" : $"http://{service}/api/items/{i}");
            using var response = await mesh.Client.GetAsync(uri, ct);
            (faulty ? faultyStatuses : healthyStatuses).Add(response.StatusCode);
        });

        faultyStatuses.Count.ShouldBe(perRoute);
        faultyStatuses.ShouldAllBe(s => s == HttpStatusCode.ServiceUnavailable);
        healthyStatuses.Count.ShouldBe(perRoute);
        healthyStatuses.ShouldAllBe(s => s == HttpStatusCode.OK);
        backend.Requests.ShouldBe(perRoute);
        paths.ShouldAllBe(p => p.StartsWith("/api/", StringComparison.Ordinal));
        faults.Sum(t => t["destination_service"] == service && t["route"] == "faulty").ShouldBe(perRoute);
        faults.Sum(t => t["destination_service"] == service && t["route"] == "healthy").ShouldBe(0);
    }

    [Fact]
    public async Task PeakEwma_starves_an_endpoint_ten_times_slower_than_its_peers_while_RoundRobin_gives_it_its_share()
    {
        // Three endpoints answer after ~10 ms, one after ~100 ms: ten times slower. Shares are compared, never times.
        // Service times of tens of milliseconds keep scheduling hiccups of a busy machine (which peak-EWMA remembers
        // for seconds, on every endpoint alike) small next to the difference being measured.
        await using var fast1 = await TestBackend.StartAsync("fast1", Slow("fast1", 10));
        await using var fast2 = await TestBackend.StartAsync("fast2", Slow("fast2", 10));
        await using var fast3 = await TestBackend.StartAsync("fast3", Slow("fast3", 10));
        await using var slow = await TestBackend.StartAsync("slow", Slow("slow", 100));
        TestBackend[] all = [fast1, fast2, fast3, slow];
        var service = UniqueName("ewma");
        object Config(string policy) => new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = all.Select(b => new { b.Address }).ToArray(),
                    LoadBalancer = new { Policy = policy },
                },
            },
        };

        // Warm the process (JIT, the backends' first requests) with a throwaway client, so that the measured
        // client's latency averages do not start from one-off start-up costs.
        await using (var warm = MeshTestClient.Create(Config("RoundRobin")))
        {
            await SendAllAsync(warm, service, 200);
        }

        await using (var ewma = MeshTestClient.Create(Config("PeakEwma")))
        {
            // Warm-up: every endpoint gets latency samples.
            await SendAllAsync(ewma, service, 400);
            // Two consecutive windows. Peak-EWMA remembers a latency spike for seconds by design, so one scheduling
            // stall of this shared 2-core machine can tilt one window; the better window shows the balancer's steady
            // state (< 5%), and neither may come near round robin's 25%.
            const int measured = 1_000;
            var shares = new List<double>();
            for (var window = 0; window < 2; window++)
            {
                var before = slow.Requests;
                await SendAllAsync(ewma, service, measured);
                shares.Add((slow.Requests - before) / (double)measured);
            }

            var estimates = ewma.GetService<MeshRuntime>().Model.Services[service].Endpoints
                .Select(e => $"{e.Authority} {e.LatencyEstimateTicks * 1000 / TimeProvider.System.TimestampFrequency:F1} ms");
            output.WriteLine("latency estimates: " + string.Join(", ", estimates));
            output.WriteLine($"PeakEwma: slow endpoint got {string.Join(" and ", shares.Select(x => x.ToString("P2", System.Globalization.CultureInfo.InvariantCulture)))}");
            shares.Min().ShouldBeLessThan(0.05, $"PeakEwma sent {shares.Min():P1} of the requests to the slow endpoint in its better window");
            shares.Max().ShouldBeLessThan(0.10, $"PeakEwma sent {shares.Max():P1} of the requests to the slow endpoint in its worse window");
        }

        await using (var roundRobin = MeshTestClient.Create(Config("RoundRobin")))
        {
            // Round robin's share does not depend on timing, so fewer requests show it.
            var before = slow.Requests;
            const int measured = 800;
            await SendAllAsync(roundRobin, service, measured);
            var share = (slow.Requests - before) / (double)measured;
            output.WriteLine($"RoundRobin: slow endpoint got {share:P2}");
            share.ShouldBeInRange(0.22, 0.28, $"RoundRobin sent {share:P1} of the requests to the slow endpoint");
        }
    }

    [Fact]
    public async Task PeakEwma_shares_sequential_calls_between_two_equal_endpoints()
    {
        // One call at a time: nothing is ever in flight when the next is picked, so only the latency estimates decide.
        // Two endpoints form the only pair there is; an estimate that does not recover from one slow answer would
        // give nearly every call to one of them.
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        var service = UniqueName("equal");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new { Endpoints = new[] { new { a.Address }, new { b.Address } } },
            },
        });

        const int calls = 2_500;
        await SendSequentiallyAsync(mesh, service, calls);

        var share = a.Requests / (double)calls;
        output.WriteLine($"a got {a.Requests}, b got {b.Requests}");
        (a.Requests + b.Requests).ShouldBe(calls);
        share.ShouldBeInRange(0.35, 0.65, $"endpoint a got {share:P1} of {calls} sequential calls");
    }

    [Fact]
    public async Task PeakEwma_shares_concurrent_load_between_two_equal_endpoints_in_every_window()
    {
        // About 500 requests/s from overlapping callers for 15 s: 5 calls started every 10 ms, each not waiting for the
        // others. Shares are read over every 2,500 consecutive arrivals (5 s at that rate), in the order the two
        // backends saw them, so a stretch where one endpoint takes nearly everything cannot hide in the total.
        var arrivals = new ConcurrentQueue<char>();
        await using var a = await TestBackend.StartAsync("a", async context =>
        {
            arrivals.Enqueue('a');
            await context.Response.WriteAsync("a");
        });
        await using var b = await TestBackend.StartAsync("b", async context =>
        {
            arrivals.Enqueue('b');
            await context.Response.WriteAsync("b");
        });
        var service = UniqueName("equal-load");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new { Endpoints = new[] { new { a.Address }, new { b.Address } } },
            },
        });

        const int ticks = 1_500;
        const int perTick = 5;
        var calls = new List<Task>(ticks * perTick);
        using (var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10)))
        {
            for (var tick = 0; tick < ticks && await timer.WaitForNextTickAsync(); tick++)
            {
                for (var i = 0; i < perTick; i++)
                {
                    calls.Add(CallAsync(mesh, service, tick * perTick + i));
                }
            }
        }

        await Task.WhenAll(calls);
        var order = arrivals.ToArray();
        order.Length.ShouldBe(ticks * perTick);
        const int window = 2_500;
        var inWindow = order.AsSpan(0, window).Count('a');
        var lowest = inWindow;
        var highest = inWindow;
        for (var end = window; end < order.Length; end++)
        {
            inWindow += (order[end] == 'a' ? 1 : 0) - (order[end - window] == 'a' ? 1 : 0);
            lowest = Math.Min(lowest, inWindow);
            highest = Math.Max(highest, inWindow);
        }

        output.WriteLine($"a got {a.Requests}, b got {b.Requests}; a's share of a window ranged {lowest / (double)window:P1}-{highest / (double)window:P1}");
        (lowest / (double)window).ShouldBeGreaterThanOrEqualTo(0.35, $"endpoint a got {lowest} of {window} consecutive calls");
        (highest / (double)window).ShouldBeLessThanOrEqualTo(0.65, $"endpoint a got {highest} of {window} consecutive calls");

        static async Task CallAsync(MeshTestClient mesh, string service, int i)
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/api/items/{i}"));
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task Slow_start_gives_an_endpoint_added_mid_run_a_small_share_first_and_a_fair_share_after_the_window()
    {
        // The client's clock is manual: the ramp is read at exact points of the window, whatever the machine's speed.
        var time = new ManualTimeProvider();
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await using var added = await TestBackend.StartAsync("added");
        var service = UniqueName("slowstart");
        object Config(params TestBackend[] endpoints) => new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = endpoints.Select(e => new { e.Address }).ToArray(),
                    LoadBalancer = new { Policy = "RoundRobin", SlowStart = new { Window = "00:01:00" } },
                },
            },
        };

        await using var mesh = MeshTestClient.Create(Config(a, b), time);
        await SendSequentiallyAsync(mesh, service, 200);
        a.Requests.ShouldBe(100, "endpoints present at start do not ramp");

        mesh.Reload(Config(a, b, added));
        var runtime = mesh.GetService<MeshRuntime>();
        await Poll.UntilAsync(() => runtime.Model.Services[service].Endpoints.Length == 3, because: "the reload takes effect");

        async Task<double> ShareOfAddedAsync(int calls)
        {
            var before = added.Requests;
            await SendSequentiallyAsync(mesh, service, calls);
            return (added.Requests - before) / (double)calls;
        }

        // Weights at the start of the window: 0.1 (the minimum) against 1 and 1, so 0.1 / 2.1 = 4.8% expected.
        var early = await ShareOfAddedAsync(1_000);
        time.Advance(TimeSpan.FromSeconds(30));
        var halfway = await ShareOfAddedAsync(1_000);     // 0.5 / 2.5 = 20%
        time.Advance(TimeSpan.FromSeconds(30));
        var after = await ShareOfAddedAsync(1_200);       // a third
        output.WriteLine($"added endpoint: {early:P1} at first, {halfway:P1} half way, {after:P1} after the window");

        early.ShouldBeInRange(0.01, 0.10);
        halfway.ShouldBeInRange(0.14, 0.26);
        after.ShouldBeInRange(0.30, 0.37);
    }

    private static async Task SendSequentiallyAsync(MeshTestClient mesh, string service, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/api/items/{i}"));
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task RingHash_keeps_each_key_on_one_endpoint_and_removing_an_endpoint_moves_only_its_keys()
    {
        var backends = new List<TestBackend>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                backends.Add(await TestBackend.StartAsync($"e{i}"));
            }

            var service = UniqueName("ring");
            object Config(IEnumerable<TestBackend> endpoints) => new
            {
                Services = new Dictionary<string, object>
                {
                    [service] = new
                    {
                        Endpoints = endpoints.Select(b => new { b.Address }).ToArray(),
                        LoadBalancer = new { Policy = "RingHash", HashHeader = "x-user" },
                    },
                },
            };
            await using var mesh = MeshTestClient.Create(Config(backends));

            const int keys = 2_000;
            var before = await MapKeysAsync(mesh, service, keys);
            before.Values.Distinct().Count().ShouldBe(10, "with 2,000 keys every endpoint owns some");

            // The same key lands on the same endpoint every time.
            for (var round = 0; round < 3; round++)
            {
                var again = await MapKeysAsync(mesh, service, 300);
                foreach (var (key, endpoint) in again)
                {
                    endpoint.ShouldBe(before[key], $"key {key} moved without any change");
                }
            }

            var removed = backends[3];
            mesh.Reload(Config(backends.Where(b => b != removed)));
            var runtime = mesh.GetService<MeshRuntime>();
            await Poll.UntilAsync(() => runtime.Model.Services[service].Endpoints.Length == 9, because: "the reload takes effect");

            var after = await MapKeysAsync(mesh, service, keys);
            var moved = before.Keys.Where(k => after[k] != before[k]).ToList();
            moved.ShouldAllBe(k => before[k] == removed.Name, "only keys of the removed endpoint may move");
            moved.Count.ShouldBe(before.Values.Count(e => e == removed.Name), "every key of the removed endpoint moves");
            after.Values.ShouldNotContain(removed.Name);
            output.WriteLine($"RingHash: {moved.Count} of {keys} keys moved");
            (moved.Count / (double)keys).ShouldBeLessThanOrEqualTo(0.15);
        }
        finally
        {
            foreach (var b in backends)
            {
                await b.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Mirroring_copies_its_share_to_the_mirror_subset_as_shadow_traffic_and_never_delays_the_caller()
    {
        await using var v1 = await TestBackend.StartAsync("v1");
        await using var v2 = await TestBackend.StartAsync("v2");
        var service = UniqueName("mirror");
        await using var mesh = MeshTestClient.Create(MirrorMesh(service, v1, v2));
        using var mirrors = Counter(mesh, "mesh.mirror.requests");

        const int total = 2_000;
        await RunAsync(total, 8, async (_, ct) =>
            (await mesh.Client.GetStringAsync(new Uri($"http://{service}/api/items/1"), ct)).ShouldBe("v1"));
        v1.Requests.ShouldBe(total);

        // Copies are fire and forget: wait until every copy the mesh counted has arrived and the count stops moving.
        var last = -1;
        var stableFor = 0;
        await Poll.UntilAsync(() =>
        {
            var arrived = v2.Requests;
            var finished = (int)mirrors.Sum(t => t["destination_service"] == service);
            stableFor = arrived == last && arrived == finished ? stableFor + 1 : 0;
            last = arrived;
            return stableFor >= 20;
        }, because: "mirror copies settle");

        output.WriteLine($"mirrored {v2.Requests} of {total}");
        (v2.Requests / (double)total).ShouldBeInRange(0.45, 0.55);
        v2.AllRequestHeaders.Count.ShouldBe(v2.Requests);
        v2.AllRequestHeaders.ShouldAllBe(h => h.Host == $"{service}-shadow");
        v1.AllRequestHeaders.ShouldAllBe(h => h.Host != $"{service}-shadow");
        mirrors.Sum(t => t["destination_service"] == service && t["result"] == "sent").ShouldBe(v2.Requests);

        // A mirror that never answers costs the caller nothing: with copies stuck at the mirror, every call completes.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var mirrorCompleted = 0;
        await using var stuck = await TestBackend.StartAsync("v2-stuck", async context =>
        {
            await gate.Task;
            Interlocked.Increment(ref mirrorCompleted);
            await context.Response.WriteAsync("v2-stuck");
        });
        try
        {
            var stuckService = UniqueName("mirror-stuck");
            await using var stuckMesh = MeshTestClient.Create(MirrorMesh(stuckService, v1, stuck));
            using var stuckMirrors = Counter(stuckMesh, "mesh.mirror.requests");

            // First make sure a copy is held at the mirror: call until one arrives (half the calls are mirrored).
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (stuck.Requests == 0)
            {
                DateTime.UtcNow.ShouldBeLessThan(deadline, "a mirror copy should reach the stuck mirror");
                (await stuckMesh.Client.GetStringAsync(new Uri($"http://{stuckService}/api/items/1"))).ShouldBe("v1");
            }

            // ...then every caller request completes while the copies stay stuck.
            const int calls = 200;
            var v1Before = v1.Requests;
            await RunAsync(calls, 8, async (_, ct) =>
                (await stuckMesh.Client.GetStringAsync(new Uri($"http://{stuckService}/api/items/1"), ct)).ShouldBe("v1"));
            (v1.Requests - v1Before).ShouldBe(calls);
            output.WriteLine($"{stuck.Requests} mirror copies held while {calls} calls completed");
            Volatile.Read(ref mirrorCompleted).ShouldBe(0);
            stuckMirrors.Count(t => t["destination_service"] == stuckService && t["result"] != "skipped").ShouldBe(0);

            // Copies do not pile up without end: beyond 100 in flight for the service they are skipped, not held.
            stuck.Requests.ShouldBeLessThanOrEqualTo(100);

            gate.SetResult();
            await Poll.UntilAsync(() =>
                stuckMirrors.Sum(t => t["destination_service"] == stuckService && t["result"] == "sent") == stuck.Requests &&
                Volatile.Read(ref mirrorCompleted) == stuck.Requests, because: "released copies complete");
            stuck.Requests.ShouldBeGreaterThan(1);
        }
        finally
        {
            gate.TrySetResult();
        }
    }

    [Fact]
    public async Task The_callers_trace_continues_through_the_mesh_with_one_logical_span()
    {
        await using var backend = await TestBackend.StartAsync("traced");
        var service = UniqueName("traced");
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object> { [service] = new { Endpoints = new object[] { new { backend.Address } } } },
        });

        var testSourceName = $"Mesh.IntegrationTests.{Guid.NewGuid():N}";
        using var testSource = new ActivitySource(testSourceName);
        var stopped = new ConcurrentQueue<Activity>();
        using var testListener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == testSourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(testListener);

        // Only the caller's source is listened to: the backend still continues the caller's trace.
        using (var root = testSource.StartActivity("caller", ActivityKind.Internal))
        {
            root.ShouldNotBeNull();
            (await mesh.Client.GetStringAsync(new Uri($"http://{service}/api/items/1"))).ShouldBe("traced");
            TraceIdOf(backend.LastRequestHeaders!).ShouldBe(root.TraceId.ToHexString());
        }

        // With the mesh's own source listened to as well: one logical span under the caller's, the attempt on it.
        using var meshListener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MeshMeter,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(meshListener);
        using (var root = testSource.StartActivity("caller", ActivityKind.Internal))
        {
            root.ShouldNotBeNull();
            (await mesh.Client.GetStringAsync(new Uri($"http://{service}/api/items/2"))).ShouldBe("traced");
            TraceIdOf(backend.LastRequestHeaders!).ShouldBe(root.TraceId.ToHexString());

            var traceId = root.TraceId;
            var spans = stopped.Where(a => a.TraceId == traceId && a.Source.Name == MeshMeter).ToList();
            var logical = spans.Where(a => a.ParentSpanId == root.SpanId).ShouldHaveSingleItem();
            logical.Kind.ShouldBe(ActivityKind.Client);
            logical.GetTagItem("server.address").ShouldBe(service);
            logical.GetTagItem("http.response.status_code").ShouldBe(200);
            logical.GetTagItem("network.peer.address").ShouldBe("127.0.0.1");
            spans.Count.ShouldBe(1);

            // The backend's parent span is the logical span or the transport's span below it, never the caller's own.
            ParentIdOf(backend.LastRequestHeaders!).ShouldNotBe(root.SpanId.ToHexString());
        }
    }

    private static string TraceIdOf(IHeaderDictionary headers) => headers["traceparent"].ToString().Split('-')[1];

    private static string ParentIdOf(IHeaderDictionary headers) => headers["traceparent"].ToString().Split('-')[2];

    private static object MirrorMesh(string service, TestBackend v1, TestBackend v2) => new
    {
        Services = new Dictionary<string, object>
        {
            [service] = new
            {
                Endpoints = new object[]
                {
                    new { v1.Address, Labels = new { version = "v1" } },
                    new { v2.Address, Labels = new { version = "v2" } },
                },
                Subsets = new { v1 = new { version = "v1" }, v2 = new { version = "v2" } },
                Routes = new object[]
                {
                    new
                    {
                        Name = "default",
                        Destinations = new object[] { new { Subset = "v1", Weight = 100 } },
                        Mirror = new { Subset = "v2", Percentage = 50 },
                    },
                },
            },
        },
    };

    private static object OneRouteService(TestBackend backend, object route) => new
    {
        Endpoints = new object[] { new { backend.Address } },
        Routes = new[] { route },
    };

    private static Func<HttpContext, Task> Slow(string name, int milliseconds) => async context =>
    {
        // Simulated service time, not a wait for a condition.
        await Task.Delay(milliseconds, context.RequestAborted);
        await context.Response.WriteAsync(name, context.RequestAborted);
    };

    private static async Task SendAllAsync(MeshTestClient mesh, string service, int count) =>
        await RunAsync(count, 8, async (i, ct) =>
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/api/items/{i}"), ct);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        });

    private static async Task<Dictionary<string, string>> MapKeysAsync(MeshTestClient mesh, string service, int keys)
    {
        var map = new ConcurrentDictionary<string, string>();
        await RunAsync(keys, 8, async (i, ct) =>
        {
            var key = $"user-{i}";
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{service}/api/cart");
            request.Headers.Add("x-user", key);
            using var response = await mesh.Client.SendAsync(request, ct);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            map[key] = await response.Content.ReadAsStringAsync(ct);
        });
        return new Dictionary<string, string>(map);
    }

    internal static Task RunAsync(int count, int concurrency, Func<int, CancellationToken, ValueTask> body) =>
        Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = concurrency }, body);

    internal static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>One of the mesh's counters, of this client only: the meter factory (the meter's scope) is per service provider.</summary>
    internal static MetricCollector<long> Counter(MeshTestClient mesh, string instrument) =>
        new(mesh.GetService<IMeterFactory>(), MeshMeter, instrument);
}
