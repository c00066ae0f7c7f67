using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using Mesh.Client.Runtime;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;

namespace Mesh.IntegrationTests;

/// <summary>
/// Connect failures, outlier ejection, circuit breaking, round-trip accounting and deadline propagation across hops
/// against real Kestrel servers on loopback. The call loop's own decisions (retry conditions, retry budget, per-try and
/// total timeouts, cancellation, probe release) are unit-tested over a scripted transport in Mesh.Client.Tests.
/// Every test uses its own service names, because the metric listener hears every mesh in the process.
/// </summary>
public sealed class ResilienceTests
{
    private const string TimeoutHeader = "x-mesh-timeout-ms";

    /// <summary>A <c>Mesh</c> section with one service.</summary>
    private static object OneService(string name, object policy) => new
    {
        Services = new Dictionary<string, object> { [name] = policy },
    };

    /// <summary>One of the mesh's instruments, of this client only (its meter factory is the meter's scope).</summary>
    private static MetricCollector<long> Collect(MeshTestClient mesh, string instrument) =>
        new(mesh.GetService<IMeterFactory>(), "Mesh.Client", instrument);

    private static bool For(Dictionary<string, string?> tags, string service) =>
        tags.GetValueOrDefault("destination_service") == service;

    /// <summary>Waits, honouring the caller going away, for longer than any test here waits for an answer.</summary>
    private static async Task<bool> HangAsync(HttpContext context)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(10), context.RequestAborted);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    [Fact]
    public async Task Connect_failures_to_a_closed_port_are_retried_on_the_other_endpoint_with_no_failed_call()
    {
        await using var good = await TestBackend.StartAsync("good");
        var closed = TestBackend.ClosedPortAddress();
        await using var mesh = MeshTestClient.Create(OneService("res-connect", new
        {
            Endpoints = new object[] { new { Address = closed }, new { Address = good.Address } },
            Routes = new object[]
            {
                new { Name = "default", Retry = new { Attempts = 2, RetryOn = new[] { "connect-failure" } } },
            },
        }));

        const int total = 2_000;
        var failures = new ConcurrentQueue<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, total), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, ct) =>
        {
            try
            {
                using var response = await mesh.Client.GetAsync(new Uri("http://res-connect/api/items"), ct);
                var body = await response.Content.ReadAsStringAsync(ct);
                if (response.StatusCode != HttpStatusCode.OK || body != "good")
                {
                    failures.Enqueue($"{(int)response.StatusCode} {body}");
                }
            }
            catch (HttpRequestException ex)
            {
                failures.Enqueue(ex.Message);
            }
        });

        failures.ShouldBeEmpty();

        // Nothing listens on the closed port, so every call ended on the good endpoint, exactly once.
        good.Requests.ShouldBe(total);
    }

    [Fact]
    public async Task A_new_client_retries_a_cold_burst_from_the_budget_reserve_and_loses_no_call()
    {
        await using var good = await TestBackend.StartAsync("good");
        await using var bad = await TestBackend.StartAsync("bad", context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        });
        await using var mesh = MeshTestClient.Create(OneService("res-reserve", new
        {
            Endpoints = new object[] { new { Address = good.Address }, new { Address = bad.Address } },
            LoadBalancer = new { Policy = "RoundRobin" },
            CircuitBreaker = new { Enabled = false },
            OutlierDetection = new { Consecutive5xxErrors = 0 },
            Routes = new object[] { new { Name = "default", Retry = new { Attempts = 2, RetryOn = new[] { "5xx" } } } },
        }));
        using var exhausted = Collect(mesh, "mesh.retry_budget.exhausted");

        // The default budget (0.2 of requests + 10/s over 10 s) starts with its reserve of 100 retries. Round robin
        // moves on with each retry too, so nearly every call meets the 503 first and needs one: within the first
        // second, the reserve covers them all (a budget that earned 10/s from its start would allow about 30).
        for (var i = 0; i < 100; i++)
        {
            using var response = await mesh.Client.GetAsync(new Uri("http://res-reserve/api/items"));
            response.StatusCode.ShouldBe(HttpStatusCode.OK, $"call {i}");
        }

        bad.Requests.ShouldBeGreaterThanOrEqualTo(90);
        good.Requests.ShouldBe(100);
        exhausted.GetMeasurementSnapshot().ShouldBeEmpty();
    }

    [Fact]
    public async Task An_attempts_round_trip_time_is_the_endpoints_own_and_excludes_an_injected_fault_delay()
    {
        // The backend moves the mesh's clock by 7 ms while it answers: the only time that passes in the round trip.
        // Route "slow" first waits an injected 50 ms; the latency average (PeakEwma's) must see 7 ms for both routes,
        // because the delay is the mesh's own doing, not the endpoint's (the first attempt's round trip otherwise
        // starts at the call's start, a clock read saved).
        const string service = "res-rtt";
        var time = new ManualTimeProvider();
        var roundTrip = TimeSpan.FromMilliseconds(7);
        await using var backend = await TestBackend.StartAsync("rtt", context =>
        {
            time.Advance(roundTrip);
            return Task.CompletedTask;
        });
        await using var mesh = MeshTestClient.Create(OneService(service, new
        {
            Endpoints = new object[] { new { Address = backend.Address } },
            LoadBalancer = new { Policy = "PeakEwma" },
            Routes = new object[]
            {
                new
                {
                    Name = "slow",
                    Match = new { PathPrefix = "/slow" },
                    Fault = new { Delay = new { Percentage = 100, FixedDelay = "00:00:00.050" } },
                },
                new { Name = "default" },
            },
        }), time);
        var endpoint = mesh.Services.GetRequiredService<MeshRuntime>().Model.Services[service].Endpoints[0];
        long Estimate() => (long)endpoint.LatencyEstimateTicks;

        using (var response = await mesh.Client.GetAsync(new Uri($"http://{service}/fast")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        Estimate().ShouldBe(roundTrip.Ticks); // ManualTimeProvider's timestamps are TimeSpan ticks

        // A fresh sample above the average replaces it at once (peak sensitivity), so a delay counted in would show.
        var timers = time.ScheduledTimers;
        var slow = mesh.Client.GetAsync(new Uri($"http://{service}/slow"));
        var deadline = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (time.ScheduledTimers <= timers && !slow.IsCompleted)
        {
            Stopwatch.GetTimestamp().ShouldBeLessThan(deadline, "the fault delay's timer never started");
            await Task.Delay(5);
        }

        backend.Requests.ShouldBe(1); // still waiting on the injected delay
        time.Advance(TimeSpan.FromMilliseconds(50));
        using (var response = await slow)
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        backend.Requests.ShouldBe(2);
        Estimate().ShouldBe(roundTrip.Ticks);
    }

    [Fact]
    public async Task An_endpoint_answering_503_is_ejected_and_gets_traffic_again_after_the_ejection_time()
    {
        const string service = "res-eject";
        var time = new ManualTimeProvider();
        await using var good1 = await TestBackend.StartAsync("good1");
        await using var good2 = await TestBackend.StartAsync("good2");
        await using var bad = await TestBackend.StartAsync("bad", context =>
        {
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        });
        await using var mesh = MeshTestClient.Create(OneService(service, new
        {
            Endpoints = new object[] { new { Address = good1.Address }, new { Address = good2.Address }, new { Address = bad.Address } },
            LoadBalancer = new { Policy = "RoundRobin" },
            Routes = new object[] { new { Name = "default", Retry = new { Attempts = 0 } } },
            OutlierDetection = new { Consecutive5xxErrors = 3, BaseEjectionTime = "00:00:30", MaxEjectionPercent = 50 },
            CircuitBreaker = new { Enabled = false },
        }), time);
        using var ejections = Collect(mesh, "mesh.outlier.ejections");
        var badAuthority = bad.Address.GetLeftPart(UriPartial.Authority);
        int Ejections() => ejections.Count(t => For(t, service) && t.GetValueOrDefault("endpoint") == badAuthority);

        var sent = 0;
        async Task<int> SendAsync(int count)
        {
            var failed = 0;
            for (var i = 0; i < count; i++)
            {
                sent++;
                using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items"));
                if (!response.IsSuccessStatusCode)
                {
                    failed++;
                }
            }

            return failed;
        }

        // Round robin over three endpoints: the bad one gets every third request until its third 503 in a row.
        for (var i = 0; i < 30 && bad.Requests < 3; i++)
        {
            await SendAsync(1);
        }

        bad.Requests.ShouldBe(3);
        Ejections().ShouldBe(1);

        // Ejected: no traffic at all, so no more failures.
        (await SendAsync(60)).ShouldBe(0);
        bad.Requests.ShouldBe(3);

        // Still ejected one second before the ejection time passes.
        time.Advance(TimeSpan.FromSeconds(29));
        (await SendAsync(30)).ShouldBe(0);
        bad.Requests.ShouldBe(3);

        // Past it: the endpoint is back in rotation, fails three more times in a row and is ejected again.
        time.Advance(TimeSpan.FromSeconds(2));
        var failed = await SendAsync(30);
        bad.Requests.ShouldBe(6);
        failed.ShouldBe(3);
        Ejections().ShouldBe(2);
        (good1.Requests + good2.Requests + bad.Requests).ShouldBe(sent); // no retries: one request per call
    }

    [Fact]
    public async Task A_failing_endpoint_opens_its_circuit_breaker_and_one_probe_after_the_break_decides_whether_it_closes()
    {
        const string service = "res-breaker";
        var time = new ManualTimeProvider();
        var failing = true;
        await using var good = await TestBackend.StartAsync("good");
        await using var flaky = await TestBackend.StartAsync("flaky", context =>
        {
            context.Response.StatusCode = Volatile.Read(ref failing) ? 500 : 200;
            return Task.CompletedTask;
        });
        await using var mesh = MeshTestClient.Create(OneService(service, new
        {
            Endpoints = new object[] { new { Address = good.Address }, new { Address = flaky.Address } },
            LoadBalancer = new { Policy = "RoundRobin" },
            Routes = new object[] { new { Name = "default", Retry = new { Attempts = 0 } } },
            OutlierDetection = new { Consecutive5xxErrors = 0 },
            CircuitBreaker = new { FailureRatio = 0.5, MinimumThroughput = 4, SamplingDuration = "00:00:10", BreakDuration = "00:00:05" },
        }), time);
        using var breakers = Collect(mesh, "mesh.circuit_breaker.open");

        async Task<int> FailuresAsync(int count)
        {
            var failed = 0;
            for (var i = 0; i < count; i++)
            {
                using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items"));
                if (!response.IsSuccessStatusCode)
                {
                    failed++;
                }
            }

            return failed;
        }

        double OpenBreakers()
        {
            breakers.Clear();
            breakers.RecordObservableInstruments();
            return breakers.Last(t => For(t, service)) ?? 0;
        }

        // Round robin: every other call goes to the flaky endpoint; its fourth failure in four attempts opens its breaker.
        (await FailuresAsync(8)).ShouldBe(4);
        flaky.Requests.ShouldBe(4);
        OpenBreakers().ShouldBe(1);

        // Open: every call goes to the good endpoint, and none fails.
        (await FailuresAsync(20)).ShouldBe(0);
        flaky.Requests.ShouldBe(4);
        time.Advance(TimeSpan.FromSeconds(4.9));
        (await FailuresAsync(10)).ShouldBe(0);
        flaky.Requests.ShouldBe(4);

        // The break is over: exactly one probe goes through; it fails, so the breaker opens for another break.
        time.Advance(TimeSpan.FromSeconds(0.2));
        (await FailuresAsync(10)).ShouldBe(1);
        flaky.Requests.ShouldBe(5);
        OpenBreakers().ShouldBe(1);

        // Recovered: the next probe succeeds, the breaker closes, and round robin shares the calls again.
        Volatile.Write(ref failing, false);
        time.Advance(TimeSpan.FromSeconds(5.1));
        (await FailuresAsync(10)).ShouldBe(0);
        flaky.Requests.ShouldBeInRange(9, 11);
        OpenBreakers().ShouldBe(0);
        (good.Requests + flaky.Requests).ShouldBe(58); // no retries, no refusals: one request per call
    }

    [Fact]
    public async Task Ejection_time_grows_with_each_ejection()
    {
        const string service = "res-eject-grow";
        var time = new ManualTimeProvider();
        await using var good1 = await TestBackend.StartAsync("good1");
        await using var good2 = await TestBackend.StartAsync("good2");
        await using var bad = await TestBackend.StartAsync("bad", context =>
        {
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        });
        await using var mesh = MeshTestClient.Create(OneService(service, new
        {
            Endpoints = new object[] { new { Address = good1.Address }, new { Address = good2.Address }, new { Address = bad.Address } },
            LoadBalancer = new { Policy = "RoundRobin" },
            Routes = new object[] { new { Name = "default", Retry = new { Attempts = 0 } } },
            OutlierDetection = new { Consecutive5xxErrors = 3, BaseEjectionTime = "00:00:30", Interval = "00:00:10", MaxEjectionPercent = 50 },
            CircuitBreaker = new { Enabled = false },
        }), time);

        async Task SendAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items"));
            }
        }

        await SendAsync(30);
        bad.Requests.ShouldBe(3); // first ejection: 30 s

        time.Advance(TimeSpan.FromSeconds(31));
        await SendAsync(30);
        bad.Requests.ShouldBe(6); // back, and ejected again at once: the second ejection lasts 2 x 30 s

        time.Advance(TimeSpan.FromSeconds(31));
        await SendAsync(30);
        bad.Requests.ShouldBe(6); // a base ejection time later it is still out

        time.Advance(TimeSpan.FromSeconds(30));
        await SendAsync(30);
        bad.Requests.ShouldBe(9); // past twice the base time it is back
    }

    [Fact]
    public async Task A_put_whose_body_streams_once_is_not_sent_again_after_it_reached_a_server()
    {
        // The first request is answered 503, which the route retries. The body was read by the server, and a stream
        // that cannot seek cannot give it again: the 503 is the caller's answer, not a failure of the mesh's making.
        var bodies = new ConcurrentQueue<string>();
        var arrivals = 0;
        await using var backend = await TestBackend.StartAsync("once", async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            bodies.Enqueue(await reader.ReadToEndAsync());
            if (Interlocked.Increment(ref arrivals) == 1)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            }
        });
        var closed = TestBackend.ClosedPortAddress();
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                ["res-stream-body"] = new
                {
                    Endpoints = new object[] { new { Address = backend.Address } },
                    Routes = new object[] { new { Name = "default", Retry = new { Attempts = 2, RetryOn = new[] { "5xx" } } } },
                },
                ["res-stream-connect"] = new
                {
                    Endpoints = new object[] { new { Address = closed }, new { Address = backend.Address } },
                    LoadBalancer = new { Policy = "RoundRobin" },
                    Routes = new object[] { new { Name = "default", Retry = new { Attempts = 2, RetryOn = new[] { "connect-failure" } } } },
                },
            },
        });

        using (var request = new HttpRequestMessage(HttpMethod.Put, "http://res-stream-body/items/1"))
        {
            request.Content = new StreamContent(new OneWayStream("item-1"u8.ToArray()));
            using var response = await mesh.Client.SendAsync(request);
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        }

        bodies.ShouldBe(["item-1"]);

        // A body nothing has read yet still goes on: a connection refused reached no server, whichever endpoint the
        // balancer picks first.
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, "http://res-stream-connect/items/2");
            request.Content = new StreamContent(new OneWayStream("item-2"u8.ToArray()));
            using var response = await mesh.Client.SendAsync(request);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        bodies.ShouldBe(["item-1", "item-2", "item-2"]);
    }

    [Fact]
    public async Task A_per_attempt_fault_delay_is_taken_from_the_next_hops_per_try_budget()
    {
        // The per-try timeout runs from the start of the attempt, the injected delay included: the request leaves
        // 0.5 s into its 2 s, and the next hop is told what is left.
        const string service = "res-delay-budget";
        var time = new ManualTimeProvider();
        await using var backend = await TestBackend.StartAsync("budget");
        await using var mesh = MeshTestClient.Create(OneService(service, new
        {
            Endpoints = new object[] { new { Address = backend.Address } },
            Routes = new object[]
            {
                new
                {
                    Name = "default",
                    Retry = new { Attempts = 1, PerTryTimeout = "00:00:02" },
                    Fault = new { Delay = new { Percentage = 100, FixedDelay = "00:00:00.500" }, PerAttempt = true },
                },
            },
        }), time);

        var call = mesh.Client.GetAsync(new Uri($"http://{service}/items"));
        await Poll.UntilAsync(() => time.ScheduledTimers == 2, because: "the per-try timeout and the fault delay are armed");
        time.Advance(TimeSpan.FromMilliseconds(500));
        using var response = await call;

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        backend.LastRequestHeaders![TimeoutHeader].ToString().ShouldBe("1500");
    }

    [Fact]
    public async Task Inbound_deadline_bounds_the_outbound_call_of_the_next_hop()
    {
        var budgets = new ConcurrentQueue<(string Path, string Budget)>();
        await using var down = await TestBackend.StartAsync("down", async context =>
        {
            budgets.Enqueue((context.Request.Path.Value ?? string.Empty, context.Request.Headers[TimeoutHeader].ToString()));
            if (context.Request.Path == "/slow" && await HangAsync(context))
            {
                return;
            }

            await context.Response.WriteAsync("down");
        });

        // The middle's own route allows 10 s; the inbound budget of 500 ms must win.
        await using var middle = await MiddleApp.StartAsync(new Dictionary<string, string?>
        {
            ["Mesh:Service:Name"] = "middle",
            ["Mesh:Services:down:Endpoints:0:Address"] = down.Address.ToString(),
            ["Mesh:Services:down:Routes:0:Name"] = "default",
            ["Mesh:Services:down:Routes:0:Timeout"] = "00:00:10",
        });

        using var caller = new HttpClient { BaseAddress = middle.Address };

        async Task<HttpResponseMessage> CallAsync(string path, string? budget)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (budget is not null)
            {
                request.Headers.Add(TimeoutHeader, budget);
            }

            return await caller.SendAsync(request);
        }

        long LastBudget(string path)
        {
            budgets.Count.ShouldBe(1);
            var (seenPath, seen) = budgets.Single();
            budgets.Clear();
            seenPath.ShouldBe(path);
            return long.Parse(seen, NumberStyles.None, CultureInfo.InvariantCulture);
        }

        // Without a budget from the caller the route's 10 s applies. This first call also opens the connections and
        // warms the middle up, so that the 500 ms calls below measure the mesh and not a cold start.
        using (var response = await CallAsync("/fast", null))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        LastBudget("/fast").ShouldBeInRange(501, 10_000);

        // With one, the downstream is told what is left of it.
        using (var response = await CallAsync("/fast", "500"))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await response.Content.ReadAsStringAsync()).ShouldBe("down");
        }

        LastBudget("/fast").ShouldBeInRange(1, 500);

        // The budget is enforced, not only passed on: the middle gives up on a hanging downstream in time.
        var stopwatch = Stopwatch.StartNew();
        using (var response = await CallAsync("/slow", "500"))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.GatewayTimeout);
        }

        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5));
        LastBudget("/slow").ShouldBeInRange(1, 500);

        // The next request on the same connection without the header is bound by the route's 10 s only: the
        // earlier request's deadline does not stick to the connection.
        using (var response = await CallAsync("/fast", null))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        LastBudget("/fast").ShouldBeInRange(501, 10_000);
    }

    /// <summary>
    /// An ASP.NET Core app in the middle of a call chain, set up the way users set one up: <c>AddMesh()</c>, its
    /// <c>Mesh</c> section in configuration, <c>UseMesh()</c>, and an endpoint calling a mesh service through
    /// <see cref="IHttpClientFactory"/>. It answers 504 when its own call runs out of time.
    /// </summary>
    private sealed class MiddleApp : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private MiddleApp(WebApplication app, Uri address)
        {
            _app = app;
            Address = address;
        }

        public Uri Address { get; }

        public static async Task<MiddleApp> StartAsync(IDictionary<string, string?> configuration)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(configuration);
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            builder.Services.AddMesh();
            var app = builder.Build();
            app.UseMesh();
            app.Run(async context =>
            {
                var client = context.RequestServices.GetRequiredService<IHttpClientFactory>().CreateClient("down");
                try
                {
                    using var response = await client.GetAsync(new Uri("http://down" + context.Request.Path), context.RequestAborted);
                    context.Response.StatusCode = (int)response.StatusCode;
                    await context.Response.WriteAsync(await response.Content.ReadAsStringAsync(context.RequestAborted));
                }
                catch (TaskCanceledException ex) when (ex.InnerException is TimeoutException)
                {
                    context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
                }
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new MiddleApp(app, new Uri(address));
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
