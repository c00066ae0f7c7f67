using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Client.Runtime;
using Mesh.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.IntegrationTests;

/// <summary>
/// Hedging against two real Kestrel servers: the first request either of them gets is held (until the test releases
/// it or the mesh cancels it) and every other is answered at once, so whichever endpoint the balancer picks first is
/// the slow one. The hedge delay runs on a manual clock the test advances; nothing depends on how fast anything runs.
/// Every test uses its own service name, because the metric listener hears every mesh in the process.
/// </summary>
public sealed class HedgingTests
{
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(50);

    private static MetricCollector<long> Collect(MeshTestClient mesh, string instrument) =>
        new(mesh.GetService<IMeterFactory>(), "Mesh.Client", instrument);

    private static long Sum(MetricCollector<long> collector, string service) =>
        collector.Sum(t => t.GetValueOrDefault("destination_service") == service);

    private static object Mesh(string service, SlowFirst backends, object? retryBudget = null) => new
    {
        Services = new Dictionary<string, object>
        {
            [service] = new
            {
                Endpoints = new object[] { new { Address = backends.A.Address }, new { Address = backends.B.Address } },
                LoadBalancer = new { Policy = "RoundRobin" },
                RetryBudget = retryBudget ?? new { RetryRatio = 0.2, MinRetriesPerSecond = 10 },
                Routes = new object[]
                {
                    new { Name = "hedged", Hedging = new { MaxAttempts = 2, Delay = "00:00:00.050" } },
                },
            },
        },
    };

    [Fact]
    public async Task A_get_whose_first_attempt_hangs_gets_the_other_endpoints_answer_while_the_slow_one_is_still_held()
    {
        const string service = "hedge-get";
        await using var backends = await SlowFirst.StartAsync();
        var time = new ManualTimeProvider();
        await using var mesh = MeshTestClient.Create(Mesh(service, backends), time);
        using var hedges = Collect(mesh, "mesh.hedges");

        var call = mesh.Client.GetAsync(new Uri($"http://{service}/items"));
        await Poll.UntilAsync(() => backends.Held is not null, because: "the first attempt reached a backend");
        await Poll.UntilAsync(() => time.ScheduledTimers == 1, because: "the hedge delay is armed");
        call.IsCompleted.ShouldBeFalse();
        time.Advance(Delay);
        using var response = await call;

        // The latency of the call is the fast endpoint's: it has its answer while the slow endpoint still holds the
        // first request, which only the mesh's cancellation ends.
        var fast = backends.Held == "a" ? "b" : "a";
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldBe(fast);
        backends.Released.ShouldBeFalse();
        await Poll.UntilAsync(() => backends.Aborted, because: "the slow request sees RequestAborted when the mesh cancels it");
        (backends.A.Requests + backends.B.Requests).ShouldBe(2);
        Sum(hedges, service).ShouldBe(1);
    }

    [Fact]
    public async Task A_post_is_not_hedged()
    {
        const string service = "hedge-post";
        await using var backends = await SlowFirst.StartAsync();
        var time = new ManualTimeProvider();
        await using var mesh = MeshTestClient.Create(Mesh(service, backends), time);
        using var hedges = Collect(mesh, "mesh.hedges");

        var call = mesh.Client.PostAsync(new Uri($"http://{service}/orders"), new StringContent("order-1"));
        await Poll.UntilAsync(() => backends.Held is not null, because: "the POST reached a backend");

        // No hedge delay is armed for a POST, so moving the clock far past it starts nothing.
        time.ScheduledTimers.ShouldBe(0);
        time.Advance(Delay * 10);
        backends.Release();
        using var response = await call;

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldBe(backends.Held);
        (backends.A.Requests + backends.B.Requests).ShouldBe(1);
        Sum(hedges, service).ShouldBe(0);
    }

    [Fact]
    public async Task A_hedge_is_refused_when_the_retry_budget_is_empty()
    {
        const string service = "hedge-budget";
        await using var backends = await SlowFirst.StartAsync();
        var time = new ManualTimeProvider();
        await using var mesh = MeshTestClient.Create(Mesh(service, backends, new { RetryRatio = 0, MinRetriesPerSecond = 0 }), time);
        using var hedges = Collect(mesh, "mesh.hedges");
        using var exhausted = Collect(mesh, "mesh.retry_budget.exhausted");

        var call = mesh.Client.GetAsync(new Uri($"http://{service}/items"));
        await Poll.UntilAsync(() => backends.Held is not null, because: "the first attempt reached a backend");
        await Poll.UntilAsync(() => time.ScheduledTimers == 1, because: "the hedge delay is armed");
        time.Advance(Delay);
        await Poll.UntilAsync(() => Sum(exhausted, service) == 1, because: "the budget refuses the hedge");

        // No hedge went out and none will: the call waits for its first attempt.
        time.ScheduledTimers.ShouldBe(0);
        call.IsCompleted.ShouldBeFalse();
        backends.Release();
        using var response = await call;

        (await response.Content.ReadAsStringAsync()).ShouldBe(backends.Held);
        (backends.A.Requests + backends.B.Requests).ShouldBe(1);
        Sum(hedges, service).ShouldBe(0);
    }

    [Fact]
    public async Task A_later_hedge_gives_the_next_hop_only_the_time_its_group_has_left()
    {
        const string service = "hedge-budget-header";
        await using var backends = await SlowFirst.StartAsync();
        var time = new ManualTimeProvider();
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new object[] { new { Address = backends.A.Address }, new { Address = backends.B.Address } },
                    LoadBalancer = new { Policy = "RoundRobin" },
                    Routes = new object[]
                    {
                        new
                        {
                            Name = "hedged",
                            Retry = new { Attempts = 1, PerTryTimeout = "00:00:02" },
                            Hedging = new { MaxAttempts = 2, Delay = "00:00:01.500" },
                        },
                    },
                },
            },
        }, time);

        var call = mesh.Client.GetAsync(new Uri($"http://{service}/items"));
        await Poll.UntilAsync(() => backends.Held is not null, because: "the first hedge reached a backend");
        await Poll.UntilAsync(() => time.ScheduledTimers == 2, because: "the per-try timeout and the hedge delay are armed");
        time.Advance(TimeSpan.FromMilliseconds(1500));
        using var response = await call;

        // The per-try timeout bounds the group: the first hedge had all of it, the second, 1.5 s later, has 0.5 s.
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var (held, fast) = backends.Held == "a" ? (backends.A, backends.B) : (backends.B, backends.A);
        held.LastRequestHeaders!["x-mesh-timeout-ms"].ToString().ShouldBe("2000");
        fast.LastRequestHeaders!["x-mesh-timeout-ms"].ToString().ShouldBe("500");
    }

    [Fact]
    public async Task A_503_that_lost_to_a_later_hedge_is_disposed_and_frees_its_connection()
    {
        // The first request hangs, the second is answered 503 with a body still to come, the third 200. The 503 waits
        // for the hedge still in flight and the third hedge wins; the 503's response must be let go then, or its
        // connection stays taken by a body nobody reads.
        const string service = "hedge-loser-503";
        var arrivals = 0;
        var sent503 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted503 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        string? backend503 = null;
        async Task HandleAsync(string name, HttpContext context)
        {
            switch (Interlocked.Increment(ref arrivals))
            {
                case 1:
                    await HoldAsync(context.RequestAborted);
                    return;
                case 2:
                    // Longer than the client drains on disposal, so a disposed response closes its connection.
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    context.Response.ContentLength = 4 << 20;
                    await context.Response.Body.WriteAsync("unavailable"u8.ToArray());
                    await context.Response.Body.FlushAsync();
                    backend503 = name;
                    sent503.TrySetResult();
                    await HoldAsync(context.RequestAborted);
                    aborted503.TrySetResult();
                    return;
                default:
                    await context.Response.WriteAsync(name);
                    return;
            }
        }

        await using var a = await TestBackend.StartAsync("a", context => HandleAsync("a", context));
        await using var b = await TestBackend.StartAsync("b", context => HandleAsync("b", context));
        await using var c = await TestBackend.StartAsync("c", context => HandleAsync("c", context));
        var time = new ManualTimeProvider();
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new object[] { new { Address = a.Address }, new { Address = b.Address }, new { Address = c.Address } },
                    LoadBalancer = new { Policy = "RoundRobin" },
                    Routes = new object[]
                    {
                        new
                        {
                            Name = "hedged",
                            Retry = new { Attempts = 0, RetryOn = new[] { "5xx" } },
                            Hedging = new { MaxAttempts = 3, Delay = "00:00:00.050" },
                        },
                    },
                },
            },
        }, time);
        var endpoints = mesh.GetService<MeshRuntime>().Model.Services[service].Endpoints;

        var call = mesh.Client.GetAsync(new Uri($"http://{service}/items"));
        await Poll.UntilAsync(() => Volatile.Read(ref arrivals) == 1, because: "the first hedge reached a backend");
        await Poll.UntilAsync(() => time.ScheduledTimers == 1, because: "the first hedge delay is armed");
        time.Advance(Delay);
        await sent503.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var address = (backend503 == "a" ? a : backend503 == "b" ? b : c).Address;
        var endpoint503 = endpoints.Single(e => e.Address.Port == address.Port);
        await Poll.UntilAsync(() => endpoint503.InFlight == 0, because: "the group has the 503");
        await Poll.UntilAsync(() => time.ScheduledTimers == 1, because: "the next hedge delay is armed");
        time.Advance(Delay);
        using var response = await call;

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        await aborted503.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_503_asking_to_retry_much_later_does_not_win_over_a_hedge_still_in_flight()
    {
        // Retry-After past the time left only stops the mesh from waiting to retry; the hedge in flight needs no
        // waiting, and its answer is the one to give.
        const string service = "hedge-retry-after";
        var arrivals = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var answered503 = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task HandleAsync(HttpContext context)
        {
            if (Interlocked.Increment(ref arrivals) == 1)
            {
                await release.Task.WaitAsync(context.RequestAborted);
                await context.Response.WriteAsync("slow");
                return;
            }

            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "3600";
            answered503.TrySetResult(context.Connection.LocalPort);
        }

        await using var a = await TestBackend.StartAsync("a", HandleAsync);
        await using var b = await TestBackend.StartAsync("b", HandleAsync);
        var time = new ManualTimeProvider();
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new object[] { new { Address = a.Address }, new { Address = b.Address } },
                    LoadBalancer = new { Policy = "RoundRobin" },
                    Routes = new object[]
                    {
                        new
                        {
                            Name = "hedged",
                            Retry = new { Attempts = 0, RetryOn = new[] { "503" } },
                            Hedging = new { MaxAttempts = 2, Delay = "00:00:00.050" },
                        },
                    },
                },
            },
        }, time);
        var endpoints = mesh.GetService<MeshRuntime>().Model.Services[service].Endpoints;

        var call = mesh.Client.GetAsync(new Uri($"http://{service}/items"));
        await Poll.UntilAsync(() => Volatile.Read(ref arrivals) == 1, because: "the first hedge reached a backend");
        await Poll.UntilAsync(() => time.ScheduledTimers == 1, because: "the hedge delay is armed");
        time.Advance(Delay);
        var port503 = await answered503.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var endpoint503 = endpoints.Single(e => e.Address.Port == port503);
        await Poll.UntilAsync(() => endpoint503.InFlight == 0, because: "the group has the 503");
        release.TrySetResult();
        using var response = await call;

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldBe("slow");
    }

    private static async Task HoldAsync(CancellationToken aborted)
    {
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, aborted);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Two backends, <c>a</c> and <c>b</c>, of which the first request to either is held.</summary>
    private sealed class SlowFirst : IAsyncDisposable
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _arrivals;
        private volatile string? _held;
        private volatile bool _aborted;

        public TestBackend A { get; private set; } = null!;

        public TestBackend B { get; private set; } = null!;

        /// <summary>The backend holding the first request; null until it arrives.</summary>
        public string? Held => _held;

        /// <summary>The held request saw its caller go away.</summary>
        public bool Aborted => _aborted;

        public bool Released => _release.Task.IsCompleted;

        public static async Task<SlowFirst> StartAsync()
        {
            var backends = new SlowFirst();
            backends.A = await TestBackend.StartAsync("a", context => backends.HandleAsync("a", context));
            backends.B = await TestBackend.StartAsync("b", context => backends.HandleAsync("b", context));
            return backends;
        }

        public void Release() => _release.TrySetResult();

        private async Task HandleAsync(string name, HttpContext context)
        {
            if (Interlocked.Increment(ref _arrivals) == 1)
            {
                _held = name;
                try
                {
                    await _release.Task.WaitAsync(context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    _aborted = true;
                    return;
                }
            }

            await context.Response.WriteAsync(name);
        }

        public async ValueTask DisposeAsync()
        {
            Release();
            await A.DisposeAsync();
            await B.DisposeAsync();
        }
    }
}
