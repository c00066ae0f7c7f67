using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// The mesh handler's call loop (route, pick, breaker, send, retry, timeouts) over a scripted transport on a manual
/// clock: no sockets, no real time.
/// </summary>
public sealed class MeshHandlerTests
{
    private const string Items = "http://reviews/items";

    private static readonly Dictionary<string, string?> NoBreakerNoEjection = new()
    {
        ["OutlierDetection:Consecutive5xxErrors"] = "0",
        ["CircuitBreaker:Enabled"] = "false",
    };

    /// <summary>A route named <paramref name="name"/> at index <paramref name="index"/> with immediate retries.</summary>
    private static Dictionary<string, string?> Route(int index, string name, int attempts, params string[] retryOn)
    {
        var route = new Dictionary<string, string?>
        {
            [$"Routes:{index}:Name"] = name,
            [$"Routes:{index}:Retry:Attempts"] = attempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [$"Routes:{index}:Retry:BaseDelay"] = "00:00:00",
            [$"Routes:{index}:Retry:MaxDelay"] = "00:00:00",
        };
        for (var i = 0; i < retryOn.Length; i++)
        {
            route[$"Routes:{index}:Retry:RetryOn:{i}"] = retryOn[i];
        }

        return route;
    }

    private static Dictionary<string, string?> Policy(params Dictionary<string, string?>[] parts)
    {
        var policy = new Dictionary<string, string?>();
        foreach (var part in parts)
        {
            foreach (var (key, value) in part)
            {
                policy[key] = value;
            }
        }

        return policy;
    }

    /// <summary>
    /// What awaiting <paramref name="call"/> throws. Caught by hand: Should.ThrowAsync reports a cancelled task as a
    /// bare TaskCanceledException of its own, which would hide the inner exception these tests look at.
    /// </summary>
    private static async Task<Exception> FailureOf(Task call)
    {
        try
        {
            await call;
        }
        catch (Exception ex)
        {
            return ex;
        }

        throw new ShouldAssertException("The call succeeded; a failure was expected.");
    }

    private static MetricCollector<long> Collect(MeshUnderTest mesh, string instrument) =>
        new(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh.Client", instrument);

    [Fact]
    public async Task A_5xx_is_retried_on_another_endpoint()
    {
        var backend = new ScriptedBackend(s => ScriptedBackend.Answer(s.Number == 1 ? 503 : 200));
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v1", "v1"], Route(0, "default", 2, "5xx"));
        using var retries = Collect(mesh, "mesh.retries");

        using var response = await mesh.GetAsync(Items);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var sent = backend.Sent;
        sent.Count.ShouldBe(2);
        sent[1].Endpoint.ShouldNotBe(sent[0].Endpoint);
        sent.ShouldAllBe(s => s.Host == "reviews" && s.Path == "/items");
        response.RequestMessage!.RequestUri.ShouldBe(new Uri(Items)); // the caller's URI, restored
        retries.Sum().ShouldBe(1);
    }

    [Fact]
    public async Task A_post_is_retried_only_on_a_route_that_allows_it_and_every_attempt_carries_the_body()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(500));
        var policy = Policy(NoBreakerNoEjection, Route(0, "post-retry", 2, "5xx"), Route(1, "default", 2, "5xx"));
        policy["Routes:0:Match:PathPrefix"] = "/retry-post";
        policy["Routes:0:Retry:RetryNonIdempotent"] = "true";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);

        using (var response = await mesh.SendAsync(HttpMethod.Post, Items, new StringContent("order-1")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        backend.Sent.Count.ShouldBe(1); // not idempotent: the 500 is the answer

        using (var response = await mesh.SendAsync(HttpMethod.Post, "http://reviews/retry-post", new StringContent("order-2")))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        var retried = backend.Sent.Skip(1).ToList();
        retried.Count.ShouldBe(3);
        retried.ShouldAllBe(s => s.Method == HttpMethod.Post && s.Path == "/retry-post" && s.Body == "order-2");
    }

    [Fact]
    public async Task A_request_no_route_matches_gets_a_404_and_sends_nothing()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        var policy = Route(0, "api", 0);
        policy["Routes:0:Match:PathPrefix"] = "/api";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);

        using var response = await mesh.GetAsync("http://reviews/other");

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        response.Headers.GetValues("x-mesh-fault").ShouldBe(["no-route"]);
        backend.Sent.ShouldBeEmpty();
    }

    [Fact]
    public async Task A_subset_without_endpoints_answers_503_no_healthy_upstream_unsent()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        var policy = Route(0, "default", 0);
        policy["Subsets:v2:version"] = "v2";
        policy["Routes:0:Destinations:0:Subset"] = "v2";
        policy["Routes:0:Destinations:0:Weight"] = "100";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);

        using var requests = Collect(mesh, "mesh.requests");

        using var response = await mesh.GetAsync(Items);

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        response.Headers.GetValues("x-mesh-fault").ShouldBe(["no-healthy-upstream"]);
        (await response.Content.ReadAsStringAsync()).ShouldBe("Service 'reviews' has no endpoint in subset 'v2'.");
        requests.GetMeasurementSnapshot().ShouldHaveSingleItem().Tags["response_code"].ShouldBe("503");
        backend.Sent.ShouldBeEmpty();
    }

    [Fact]
    public async Task With_every_breaker_open_a_call_answers_503_no_healthy_upstream_unsent()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(500));
        var policy = Route(0, "default", 0);
        policy["LoadBalancer:Policy"] = "RoundRobin";
        policy["OutlierDetection:Consecutive5xxErrors"] = "0";
        policy["CircuitBreaker:FailureRatio"] = "0.5";
        policy["CircuitBreaker:MinimumThroughput"] = "4";
        policy["CircuitBreaker:BreakDuration"] = "00:00:05";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v1"], policy);

        // Round robin: four failures on each endpoint open both breakers.
        for (var i = 0; i < 8; i++)
        {
            using var response = await mesh.GetAsync(Items);
            response.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        using var refused = await mesh.GetAsync(Items);

        refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        refused.Headers.GetValues("x-mesh-fault").ShouldBe(["no-healthy-upstream"]);
        (await refused.Content.ReadAsStringAsync()).ShouldContain("circuit breaker");
        backend.Sent.Count.ShouldBe(8);
        backend.Sent.Select(s => s.Endpoint).Distinct().Count().ShouldBe(2);
    }

    [Fact]
    public async Task A_caller_who_already_gave_up_sends_nothing_and_meets_no_fault()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        var policy = Route(0, "default", 2, "5xx");
        policy["Routes:0:Fault:Abort:Percentage"] = "100";
        policy["Routes:0:Fault:Abort:HttpStatus"] = "503";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);
        using var gone = new CancellationTokenSource();
        await gone.CancelAsync();

        await Should.ThrowAsync<OperationCanceledException>(() => mesh.GetAsync(Items, gone.Token));

        backend.Sent.ShouldBeEmpty();
    }

    [Fact]
    public async Task A_caller_giving_up_mid_attempt_ends_the_call_unretried_and_does_not_count_against_the_endpoint()
    {
        var backend = new ScriptedBackend(s => s.Number switch
        {
            1 => ScriptedBackend.HangAsync(s),
            2 => ScriptedBackend.Answer(500),
            _ => ScriptedBackend.Answer(200),
        });
        var policy = Route(0, "default", 2, "reset");
        policy["Routes:0:Timeout"] = "00:00:05";
        policy["OutlierDetection:Consecutive5xxErrors"] = "0";

        // Two failures in two attempts would open this breaker: the calls after show that the cancelled attempt
        // was not counted as one.
        policy["CircuitBreaker:FailureRatio"] = "0.5";
        policy["CircuitBreaker:MinimumThroughput"] = "2";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);
        using var retries = Collect(mesh, "mesh.retries");
        using var caller = new CancellationTokenSource();

        var call = mesh.GetAsync(Items, caller.Token);
        var first = await backend.NextAsync();
        await caller.CancelAsync();

        var failure = await FailureOf(call);
        failure.ShouldBeAssignableTo<OperationCanceledException>();
        failure.InnerException.ShouldNotBeOfType<TimeoutException>(); // the caller's cancellation, not a timeout
        first.Token.IsCancellationRequested.ShouldBeTrue();
        backend.Sent.Count.ShouldBe(1);
        retries.Sum().ShouldBe(0);

        using (var failed = await mesh.GetAsync(Items))
        {
            failed.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        }

        using var next = await mesh.GetAsync(Items);
        next.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_per_try_timeout_moves_a_hanging_attempt_to_another_endpoint()
    {
        var backend = new ScriptedBackend(s => s.Number == 1 ? ScriptedBackend.HangAsync(s) : ScriptedBackend.Answer(200));
        var policy = Policy(NoBreakerNoEjection, Route(0, "default", 2, "5xx"));
        policy["Routes:0:Timeout"] = "00:00:05";
        policy["Routes:0:Retry:PerTryTimeout"] = "00:00:00.200";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v1"], policy);

        var call = mesh.GetAsync(Items);
        var first = await backend.NextAsync();
        first.TimeoutBudget.ShouldBe("200"); // the next hop is told the attempt's budget, not the call's
        mesh.Time.Advance(TimeSpan.FromMilliseconds(199));
        first.Token.IsCancellationRequested.ShouldBeFalse();
        mesh.Time.Advance(TimeSpan.FromMilliseconds(1));

        using var response = await call;
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        first.Token.IsCancellationRequested.ShouldBeTrue();
        var sent = backend.Sent;
        sent.Count.ShouldBe(2);
        sent[1].Endpoint.ShouldNotBe(first.Endpoint);
    }

    [Fact]
    public async Task The_route_timeout_ends_the_call_as_a_timeout_even_with_retries_left()
    {
        var backend = new ScriptedBackend(ScriptedBackend.HangAsync);
        var policy = Policy(NoBreakerNoEjection, Route(0, "default", 5, "5xx"));
        policy["Routes:0:Timeout"] = "00:00:01";
        policy["Routes:0:Retry:PerTryTimeout"] = "00:00:00.400";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);

        var call = mesh.GetAsync(Items);
        (await backend.NextAsync()).TimeoutBudget.ShouldBe("400");
        mesh.Time.Advance(TimeSpan.FromMilliseconds(400));
        (await backend.NextAsync()).TimeoutBudget.ShouldBe("400");
        mesh.Time.Advance(TimeSpan.FromMilliseconds(400));
        var third = await backend.NextAsync();
        third.TimeoutBudget.ShouldBe("200"); // what is left of the call is less than a try
        mesh.Time.Advance(TimeSpan.FromMilliseconds(200));

        // Shaped like HttpClient's own timeout.
        var failure = await FailureOf(call);
        failure.ShouldBeOfType<TaskCanceledException>();
        failure.InnerException.ShouldBeOfType<TimeoutException>();
        third.Token.IsCancellationRequested.ShouldBeTrue();
        backend.Sent.Count.ShouldBe(3);
    }

    [Fact]
    public async Task An_exhausted_retry_budget_stops_retries_and_says_so()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(503));
        var policy = Policy(NoBreakerNoEjection, Route(0, "default", 3, "5xx"));
        policy["RetryBudget:RetryRatio"] = "0";
        policy["RetryBudget:MinRetriesPerSecond"] = "1";
        policy["RetryBudget:Ttl"] = "00:00:01";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);
        using var retries = Collect(mesh, "mesh.retries");
        using var exhausted = Collect(mesh, "mesh.retry_budget.exhausted");

        for (var i = 0; i < 5; i++)
        {
            using var response = await mesh.GetAsync(Items);
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        }

        // A reserve of one retry (1 a second × 1 s) and none per request: the first call retries once, then every call
        // stops at once.
        backend.Sent.Count.ShouldBe(6);
        retries.Sum().ShouldBe(1);
        exhausted.Sum().ShouldBe(5);
    }
}
