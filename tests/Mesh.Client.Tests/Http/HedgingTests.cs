using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Client.LoadBalancing;
using Mesh.Client.Runtime;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// Hedging in the call loop over a scripted transport on a manual clock: a hedge starts only when the clock passes the
/// route's delay, so every test decides exactly when, and no test depends on how fast anything runs.
/// </summary>
public sealed class HedgingTests
{
    private const string Items = "http://reviews/items";

    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(50);

    /// <summary>Round robin, no breaker, outliers ejected at the first failure (so a failure counted against an endpoint shows).</summary>
    private static Dictionary<string, string?> Policy(int maxAttempts = 2, int retries = 0) => new()
    {
        ["LoadBalancer:Policy"] = "RoundRobin",
        ["CircuitBreaker:Enabled"] = "false",
        ["OutlierDetection:Consecutive5xxErrors"] = "1",
        ["OutlierDetection:MaxEjectionPercent"] = "100",
        ["Routes:0:Name"] = "hedged",
        ["Routes:0:Retry:Attempts"] = retries.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Routes:0:Retry:RetryOn:0"] = "5xx",
        ["Routes:0:Retry:BaseDelay"] = "00:00:00",
        ["Routes:0:Retry:MaxDelay"] = "00:00:00",
        ["Routes:0:Hedging:MaxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Routes:0:Hedging:Delay"] = "00:00:00.050",
    };

    private static MetricCollector<long> Collect(MeshUnderTest mesh, string instrument) =>
        new(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh.Client", instrument);

    private static EndpointState[] Endpoints(MeshUnderTest mesh)
    {
        mesh.Services.GetRequiredService<MeshRuntime>().TryGetService("reviews", out var service).ShouldBeTrue();
        return service.Endpoints;
    }

    /// <summary>Waits until the call has armed its hedge timer (the only timer on this clock), then lets the delay pass.</summary>
    private static async Task PassHedgeDelayAsync(MeshUnderTest mesh)
    {
        await Poll.UntilAsync(() => mesh.Time.ScheduledTimers == 1, because: "the hedge delay is armed");
        mesh.Time.Advance(Delay);
    }

    [Fact]
    public async Task A_slow_first_attempt_is_hedged_on_another_endpoint_whose_answer_wins_and_the_first_is_cancelled()
    {
        var backend = new ScriptedBackend(s => s.Number == 1 ? ScriptedBackend.HangAsync(s) : ScriptedBackend.Answer(200));
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v2"], Policy());
        using var hedges = Collect(mesh, "mesh.hedges");
        using var retries = Collect(mesh, "mesh.retries");

        var call = mesh.GetAsync(Items);
        var first = await backend.NextAsync();
        await PassHedgeDelayAsync(mesh);
        using var response = await call;

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.RequestMessage!.RequestUri.ShouldBe(new Uri(Items)); // the caller's own request, not a hedge's copy
        var sent = backend.Sent;
        sent.Count.ShouldBe(2);
        sent[1].Endpoint.ShouldNotBe(first.Endpoint);
        sent.ShouldAllBe(s => s.Host == "reviews" && s.Path == "/items" && s.Method == HttpMethod.Get);
        first.Token.IsCancellationRequested.ShouldBeTrue(); // the loser is cancelled
        hedges.Sum().ShouldBe(1);
        retries.Sum().ShouldBe(0);

        // The loser's own bookkeeping: no longer in flight, and its cancellation is not its endpoint's failure (one
        // failure would eject it here), so both endpoints keep getting calls.
        var endpoints = Endpoints(mesh);
        await Poll.UntilAsync(() => endpoints.All(e => e.InFlight == 0), because: "the cancelled loser has settled");
        for (var i = 0; i < 4; i++)
        {
            using var next = await mesh.GetAsync(Items);
            next.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        endpoints.ShouldAllBe(e => e.EjectionCount == 0);
        backend.Sent.Skip(2).Select(s => s.Endpoint).Distinct().Count().ShouldBe(2);
    }

    [Fact]
    public async Task A_hedge_answering_503_does_not_win_while_the_first_attempt_is_still_in_flight()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = new ScriptedBackend(async s =>
        {
            if (s.Number == 1)
            {
                await release.Task;
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("first") };
            }

            return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        });
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v2"], Policy());

        var call = mesh.GetAsync(Items);
        await backend.NextAsync();
        await PassHedgeDelayAsync(mesh);
        await backend.NextAsync(); // the hedge, answered 503 at once
        await Poll.UntilAsync(() => backend.Sent.Count == 2);
        call.IsCompleted.ShouldBeFalse();

        release.SetResult();
        using var response = await call;

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldBe("first");
    }

    [Fact]
    public async Task When_every_hedge_fails_retriably_the_group_is_one_attempt_and_the_retry_loop_tries_again()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = new ScriptedBackend(async s =>
        {
            if (s.Number == 1)
            {
                await release.Task;
            }

            return new HttpResponseMessage(s.Number <= 2 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK);
        });
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v2", "v3"], Policy(retries: 1));
        using var hedges = Collect(mesh, "mesh.hedges");
        using var retries = Collect(mesh, "mesh.retries");

        var call = mesh.GetAsync(Items);
        await backend.NextAsync();
        await PassHedgeDelayAsync(mesh);
        await backend.NextAsync();
        await Poll.UntilAsync(() => backend.Sent.Count == 2);
        release.SetResult();
        using var response = await call;

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        backend.Sent.Count.ShouldBe(3);
        hedges.Sum().ShouldBe(1);
        retries.Sum().ShouldBe(1);
    }

    [Fact]
    public async Task Up_to_MaxAttempts_are_in_flight_each_on_its_own_endpoint_and_the_first_good_answer_cancels_the_rest()
    {
        var backend = new ScriptedBackend(s => s.Number < 3 ? ScriptedBackend.HangAsync(s) : ScriptedBackend.Answer(200));
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v2", "v3"], Policy(maxAttempts: 3));
        using var hedges = Collect(mesh, "mesh.hedges");

        var call = mesh.GetAsync(Items);
        await backend.NextAsync();
        await PassHedgeDelayAsync(mesh);
        await backend.NextAsync();
        await PassHedgeDelayAsync(mesh);
        using var response = await call;

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var sent = backend.Sent;
        sent.Count.ShouldBe(3);
        sent.Select(s => s.Endpoint).Distinct().Count().ShouldBe(3);
        sent[0].Token.IsCancellationRequested.ShouldBeTrue();
        sent[1].Token.IsCancellationRequested.ShouldBeTrue();
        hedges.Sum().ShouldBe(2);
        mesh.Time.ScheduledTimers.ShouldBe(0); // MaxAttempts reached: no further delay armed, none left behind
    }

    [Fact]
    public async Task A_post_is_not_hedged_unless_its_route_retries_non_idempotent_requests_and_then_every_hedge_carries_the_body()
    {
        var backend = new ScriptedBackend(s => s.Number <= 2 ? ScriptedBackend.HangAsync(s) : ScriptedBackend.Answer(200));
        var policy = Policy();
        policy["Routes:0:Match:PathPrefix"] = "/post";
        foreach (var (key, value) in Policy())
        {
            policy[key.Replace("Routes:0:", "Routes:1:", StringComparison.Ordinal)] = value;
        }

        policy["Routes:1:Name"] = "hedged-posts";
        policy["Routes:1:Retry:RetryNonIdempotent"] = "true";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v2"], policy);
        using var hedges = Collect(mesh, "mesh.hedges");

        // Route 0 takes /post: a POST there is sent once, with no hedge timer at all.
        using (var cancel = new CancellationTokenSource())
        {
            var post = mesh.SendAsync(HttpMethod.Post, "http://reviews/post", new StringContent("order-1"), cancel.Token);
            await backend.NextAsync();
            mesh.Time.ScheduledTimers.ShouldBe(0);
            mesh.Time.Advance(Delay * 10);
            backend.Sent.Count.ShouldBe(1);
            await cancel.CancelAsync();
            await Should.ThrowAsync<OperationCanceledException>(post);
        }

        // Route 1 retries POSTs, so it hedges them: the hedge sends the same body.
        var hedged = mesh.SendAsync(HttpMethod.Post, "http://reviews/orders", new StringContent("order-2"));
        await backend.NextAsync();
        await PassHedgeDelayAsync(mesh);
        using var response = await hedged;

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        backend.Sent.Skip(1).ShouldAllBe(s => s.Method == HttpMethod.Post && s.Path == "/orders" && s.Body == "order-2");
        backend.Sent.Count.ShouldBe(3);
        hedges.Sum().ShouldBe(1);
    }

    [Fact]
    public async Task A_hedge_is_refused_when_the_retry_budget_is_empty()
    {
        var backend = new ScriptedBackend(ScriptedBackend.HangAsync);
        var policy = Policy();
        policy["RetryBudget:RetryRatio"] = "0";
        policy["RetryBudget:MinRetriesPerSecond"] = "0";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v2"], policy);
        using var hedges = Collect(mesh, "mesh.hedges");
        using var exhausted = Collect(mesh, "mesh.retry_budget.exhausted");
        using var cancel = new CancellationTokenSource();

        var call = mesh.GetAsync(Items, cancel.Token);
        var first = await backend.NextAsync();
        await PassHedgeDelayAsync(mesh);
        await Poll.UntilAsync(() => exhausted.Sum() == 1, because: "the budget refused the hedge");

        mesh.Time.ScheduledTimers.ShouldBe(0); // no further hedge is tried
        backend.Sent.Count.ShouldBe(1);
        hedges.Sum().ShouldBe(0);
        call.IsCompleted.ShouldBeFalse();

        await cancel.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(call);
        first.Token.IsCancellationRequested.ShouldBeTrue();
    }

    [Fact]
    public async Task The_callers_cancellation_cancels_every_hedge_and_counts_against_no_endpoint()
    {
        var backend = new ScriptedBackend(ScriptedBackend.HangAsync);
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v2"], Policy());
        using var cancel = new CancellationTokenSource();

        var call = mesh.GetAsync(Items, cancel.Token);
        await backend.NextAsync();
        await PassHedgeDelayAsync(mesh);
        await backend.NextAsync();
        await cancel.CancelAsync();

        await Should.ThrowAsync<OperationCanceledException>(call);
        backend.Sent.ShouldAllBe(s => s.Token.IsCancellationRequested);
        var endpoints = Endpoints(mesh);
        await Poll.UntilAsync(() => endpoints.All(e => e.InFlight == 0), because: "both hedges have settled");
        endpoints.ShouldAllBe(e => e.EjectionCount == 0);
    }
}
