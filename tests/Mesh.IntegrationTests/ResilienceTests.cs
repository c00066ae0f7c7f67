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
/// Retries, retry budget, outlier ejection, timeouts and deadline propagation against real Kestrel servers on
/// loopback. Every test uses its own service names, because the metric listener hears every mesh in the process.
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
    public async Task Get_is_retried_on_5xx_post_only_when_the_route_allows_it()
    {
        var seen = new ConcurrentQueue<(string Method, string Path, string Body)>();
        await using var failing = await TestBackend.StartAsync("failing", async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            seen.Enqueue((context.Request.Method, context.Request.Path.Value ?? string.Empty, await reader.ReadToEndAsync(context.RequestAborted)));
            context.Response.StatusCode = 500;
        });
        await using var twinA = await TestBackend.StartAsync("twin-a", context =>
        {
            context.Response.StatusCode = 500;
            return Task.CompletedTask;
        });
        await using var twinB = await TestBackend.StartAsync("twin-b", context =>
        {
            context.Response.StatusCode = 500;
            return Task.CompletedTask;
        });

        // Short backoff: this test is about which requests are repeated, not when.
        var retry = new { Attempts = 2, RetryOn = new[] { "5xx" }, BaseDelay = "00:00:00.001", MaxDelay = "00:00:00.005" };
        var retryPost = new { Attempts = 2, RetryOn = new[] { "5xx" }, BaseDelay = "00:00:00.001", MaxDelay = "00:00:00.005", RetryNonIdempotent = true };
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                ["res-retry"] = new
                {
                    Endpoints = new object[] { new { Address = failing.Address } },
                    Routes = new object[]
                    {
                        new { Name = "post-retry", Match = new { PathPrefix = "/retry-post" }, Retry = retryPost },
                        new { Name = "default", Retry = retry },
                    },
                    OutlierDetection = new { Consecutive5xxErrors = 0 },
                    CircuitBreaker = new { Enabled = false },
                },
                ["res-retry-two"] = new
                {
                    Endpoints = new object[] { new { Address = twinA.Address }, new { Address = twinB.Address } },
                    LoadBalancer = new { Policy = "RoundRobin" },
                    Routes = new object[] { new { Name = "default", Retry = retry } },
                    OutlierDetection = new { Consecutive5xxErrors = 0 },
                    CircuitBreaker = new { Enabled = false },
                },
            },
        });

        // GET to a single endpoint: 1 + Attempts requests, all to it, and the last answer comes back.
        using (var response = await mesh.Client.GetAsync(new Uri("http://res-retry/items")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        seen.Count.ShouldBe(3);
        seen.ShouldAllBe(s => s.Method == "GET");

        // POST is not idempotent: one request, the 500 is the answer.
        seen.Clear();
        using (var response = await mesh.Client.PostAsync(new Uri("http://res-retry/items"), new StringContent("order-1")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        seen.Count.ShouldBe(1);
        seen.Single().ShouldBe(("POST", "/items", "order-1"));

        // A route that says so retries POST too, and every attempt carries the whole body.
        seen.Clear();
        using (var response = await mesh.Client.PostAsync(new Uri("http://res-retry/retry-post"), new StringContent("order-2")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        seen.Count.ShouldBe(3);
        seen.ShouldAllBe(s => s.Method == "POST" && s.Path == "/retry-post" && s.Body == "order-2");

        // With two endpoints a retry goes to the other one: the attempts alternate, 2 + 1.
        using (var response = await mesh.Client.GetAsync(new Uri("http://res-retry-two/items")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        (twinA.Requests + twinB.Requests).ShouldBe(3);
        new[] { twinA.Requests, twinB.Requests }.Order().ShouldBe([1, 2]);
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
        var endpoint = mesh.Services.GetRequiredService<MeshRuntime>().Snapshot.Services[service].Endpoints[0];
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
    public async Task A_call_whose_caller_already_gave_up_sends_nothing_and_meets_no_fault()
    {
        const string service = "res-precancelled";
        await using var backend = await TestBackend.StartAsync("only");
        await using var mesh = MeshTestClient.Create(OneService(service, new
        {
            Endpoints = new object[] { new { Address = backend.Address } },
            Routes = new object[]
            {
                new
                {
                    Name = "default",
                    Timeout = "00:00:05",
                    Fault = new { Abort = new { Percentage = 100, HttpStatus = 503 } },
                },
            },
        }));
        using var gone = new CancellationTokenSource();
        await gone.CancelAsync();

        // Not a fault-injected 503 and not an attempt: the caller's own cancellation, as HttpClient reports it.
        await Should.ThrowAsync<OperationCanceledException>(() => mesh.Client.GetAsync(new Uri($"http://{service}/items"), gone.Token));
        backend.Requests.ShouldBe(0);
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
    public async Task Retry_budget_caps_retries_against_a_service_that_always_fails()
    {
        const string service = "res-budget";
        const string control = "res-budget-control";
        const int batches = 30;
        const int perBatch = 20;
        var step = TimeSpan.FromMilliseconds(100);
        var time = new ManualTimeProvider();
        await using var down = await TestBackend.StartAsync("down", context =>
        {
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        });
        await using var controlDown = await TestBackend.StartAsync("control-down", context =>
        {
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        });
        var retry = new { Attempts = 3, RetryOn = new[] { "5xx" }, BaseDelay = "00:00:00", MaxDelay = "00:00:00" };
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                // The default budget: 20 % of requests plus 10 retries a second, over 10 s.
                [service] = new
                {
                    Endpoints = new object[] { new { Address = down.Address } },
                    Routes = new object[] { new { Name = "default", Retry = retry } },
                    OutlierDetection = new { Consecutive5xxErrors = 0 },
                    CircuitBreaker = new { Enabled = false },
                },

                // The same, with a budget too large to bite: what the retries alone would do.
                [control] = new
                {
                    Endpoints = new object[] { new { Address = controlDown.Address } },
                    Routes = new object[] { new { Name = "default", Retry = retry } },
                    OutlierDetection = new { Consecutive5xxErrors = 0 },
                    CircuitBreaker = new { Enabled = false },
                    RetryBudget = new { RetryRatio = 10 },
                },
            },
        }, time);
        using var exhausted = Collect(mesh, "mesh.retry_budget.exhausted");
        using var retries = Collect(mesh, "mesh.retries");

        var start = time.GetTimestamp();
        for (var b = 0; b < batches; b++)
        {
            if (b > 0)
            {
                time.Advance(step);
            }

            await Task.WhenAll(Enumerable.Range(0, perBatch).Select(async _ =>
            {
                using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/items"));
                response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
                using var controlResponse = await mesh.Client.GetAsync(new Uri($"http://{control}/items"));
                controlResponse.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            }));
        }

        const int requests = batches * perBatch;
        var elapsed = time.GetElapsedTime(start);
        elapsed.ShouldBe(step * (batches - 1)); // 2.9 s: the clock moved only when the test said so
        var seconds = (int)Math.Ceiling(elapsed.TotalSeconds); // the budget's per-second allowance accrued over 3 seconds

        // Without the budget every call makes 1 + Attempts = 4 requests.
        controlDown.Requests.ShouldBe(4 * requests);

        // With it: at most 20 % more requests plus 10 per second: 1.2 x 600 + 10 x 3 = 750, not 2,400.
        var attempts = down.Requests;
        attempts.ShouldBeLessThanOrEqualTo((int)((1.2 * requests) + (10 * seconds)));
        attempts.ShouldBeGreaterThan(requests); // retries did happen while there was budget
        exhausted.Sum(t => For(t, service)).ShouldBeGreaterThan(0);
        retries.Sum(t => For(t, service)).ShouldBe(attempts - requests);
        exhausted.Sum(t => For(t, control)).ShouldBe(0);
    }

    [Fact]
    public async Task Total_timeout_ends_the_call_with_a_timeout_and_tells_the_backend_its_budget()
    {
        const string service = "res-timeout";
        var budgets = new ConcurrentQueue<string>();
        var slowRequests = 0;
        var aborted = 0;
        await using var slow = await TestBackend.StartAsync("slow", async context =>
        {
            if (context.Request.Path == "/warm")
            {
                await context.Response.WriteAsync("warm");
                return;
            }

            Interlocked.Increment(ref slowRequests);
            budgets.Enqueue(context.Request.Headers[TimeoutHeader].ToString());
            if (await HangAsync(context))
            {
                Interlocked.Increment(ref aborted);
                return;
            }

            await context.Response.WriteAsync("late");
        });
        await using var mesh = MeshTestClient.Create(OneService(service, new
        {
            Endpoints = new object[] { new { Address = slow.Address } },
            Routes = new object[]
            {
                new { Name = "warm", Match = new { Path = "/warm" } },
                new
                {
                    Name = "default",
                    Timeout = "00:00:00.300",
                    Retry = new { Attempts = 2, RetryOn = new[] { "5xx", "reset", "connect-failure" } },
                },
            },
        }));
        using var requests = Collect(mesh, "mesh.requests");
        using var retries = Collect(mesh, "mesh.retries");

        // Opens the connection and runs the pipeline once, without a timeout, so that the timed call measures the
        // backend and not a cold start.
        (await mesh.Client.GetStringAsync(new Uri($"http://{service}/warm"))).ShouldBe("warm");

        var stopwatch = Stopwatch.StartNew();
        Exception? thrown = null;
        try
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/slow"));
        }
        catch (Exception ex)
        {
            // Caught by hand: Should.ThrowAsync reports a cancelled task as a bare TaskCanceledException of its own.
            thrown = ex;
        }

        stopwatch.Stop();

        thrown.ShouldBeOfType<TaskCanceledException>();
        thrown.InnerException.ShouldBeOfType<TimeoutException>(thrown.ToString());

        // Far below the 10 s the backend would take, let alone 30 s for three attempts: the deadline ended the call.
        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5));

        // The backend's request was cancelled with the call, not left running.
        await Poll.UntilAsync(() => Volatile.Read(ref aborted) == 1, because: "the backend sees the timed-out request aborted");

        // A total timeout is not retried: one attempt, and the backend saw no more than that.
        requests.Count(t => For(t, service) && t.GetValueOrDefault("route") == "default").ShouldBe(1);
        retries.Sum(t => For(t, service)).ShouldBe(0);
        Volatile.Read(ref slowRequests).ShouldBeLessThanOrEqualTo(1);

        budgets.Count.ShouldBe(1);
        var budget = long.Parse(budgets.Single(), NumberStyles.None, CultureInfo.InvariantCulture);
        budget.ShouldBeInRange(1, 300);
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

    [Fact]
    public async Task Per_try_timeout_moves_a_hanging_attempt_to_the_other_endpoint()
    {
        const string service = "res-per-try";
        var aborted = 0;
        await using var hang = await TestBackend.StartAsync("hang", async context =>
        {
            if (context.Request.Path == "/warm")
            {
                await context.Response.WriteAsync("warm");
                return;
            }

            if (await HangAsync(context))
            {
                Interlocked.Increment(ref aborted);
                return;
            }

            await context.Response.WriteAsync("hang");
        });
        await using var good = await TestBackend.StartAsync("good");
        await using var mesh = MeshTestClient.Create(OneService(service, new
        {
            Endpoints = new object[] { new { Address = hang.Address }, new { Address = good.Address } },
            LoadBalancer = new { Policy = "RoundRobin" },
            Routes = new object[]
            {
                new { Name = "warm", Match = new { Path = "/warm" }, Retry = new { Attempts = 0 } },
                new { Name = "default", Retry = new { Attempts = 2, PerTryTimeout = "00:00:00.200", RetryOn = new[] { "5xx" } } },
            },
            OutlierDetection = new { Consecutive5xxErrors = 0 },
            CircuitBreaker = new { Enabled = false },
        }));

        // Round robin: the two warm-up calls open a connection to each endpoint, so that no attempt below pays for a
        // cold start within its 200 ms.
        for (var i = 0; i < 2; i++)
        {
            await mesh.Client.GetStringAsync(new Uri($"http://{service}/warm"));
        }

        good.Requests.ShouldBe(1);
        var hangWarm = hang.Requests;
        hangWarm.ShouldBe(1);

        const int calls = 6;
        for (var i = 0; i < calls; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            (await mesh.Client.GetStringAsync(new Uri($"http://{service}/items"))).ShouldBe("good");

            // Far below the 10 s the hanging endpoint would hold the call.
            stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5));
        }

        // Round robin sent some first attempts to the hanging endpoint; each was cut off and retried elsewhere.
        good.Requests.ShouldBe(1 + calls);
        var hung = hang.Requests - hangWarm;
        hung.ShouldBeGreaterThanOrEqualTo(1);
        await Poll.UntilAsync(() => Volatile.Read(ref aborted) == hung, because: "every hanging attempt is aborted");
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
