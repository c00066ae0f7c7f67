using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// When a route's faults meet a call: once per logical request before its first attempt (Envoy's fault filter), or on
/// every attempt with <c>PerAttempt</c>. Over a scripted transport on a manual clock.
/// </summary>
public sealed class FaultInjectionTests
{
    private const string Items = "http://reviews/items";

    /// <summary>Two immediate retries on 5xx and the fault given, breakers and ejection off.</summary>
    private static Dictionary<string, string?> RetriedRoute(params (string Key, string Value)[] fault)
    {
        var policy = new Dictionary<string, string?>
        {
            ["Routes:0:Name"] = "default",
            ["Routes:0:Retry:Attempts"] = "2",
            ["Routes:0:Retry:RetryOn:0"] = "5xx",
            ["Routes:0:Retry:BaseDelay"] = "00:00:00",
            ["Routes:0:Retry:MaxDelay"] = "00:00:00",
            ["OutlierDetection:Consecutive5xxErrors"] = "0",
            ["CircuitBreaker:Enabled"] = "false",
        };
        foreach (var (key, value) in fault)
        {
            policy[$"Routes:0:Fault:{key}"] = value;
        }

        return policy;
    }

    private static MetricCollector<long> Collect(MeshUnderTest mesh, string instrument) =>
        new(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh.Client", instrument);

    [Fact]
    public async Task An_injected_abort_is_the_callers_answer_and_is_never_retried()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"],
            RetriedRoute(("Abort:Percentage", "100"), ("Abort:HttpStatus", "503")));
        using var faults = Collect(mesh, "mesh.faults.injected");
        using var retries = Collect(mesh, "mesh.retries");
        using var requests = Collect(mesh, "mesh.requests");

        using var response = await mesh.GetAsync(Items);

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        response.Headers.GetValues("x-mesh-fault").ShouldBe(["abort"]);
        backend.Sent.ShouldBeEmpty();
        faults.Sum().ShouldBe(1);
        retries.Sum().ShouldBe(0);
        requests.GetMeasurementSnapshot().ShouldHaveSingleItem().Tags["response_code"].ShouldBe("503");
    }

    [Fact]
    public async Task With_PerAttempt_every_retry_meets_the_abort_again()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"],
            RetriedRoute(("Abort:Percentage", "100"), ("Abort:HttpStatus", "503"), ("PerAttempt", "true")));
        using var faults = Collect(mesh, "mesh.faults.injected");
        using var retries = Collect(mesh, "mesh.retries");

        using var response = await mesh.GetAsync(Items);

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        response.Headers.GetValues("x-mesh-fault").ShouldBe(["abort"]);
        backend.Sent.ShouldBeEmpty();
        faults.Sum().ShouldBe(3); // the first attempt and both retries
        retries.Sum().ShouldBe(2);
    }

    [Fact]
    public async Task A_delay_is_waited_once_before_the_first_attempt_and_not_again_by_retries()
    {
        var backend = new ScriptedBackend(s => ScriptedBackend.Answer(s.Number == 1 ? 503 : 200));
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"],
            RetriedRoute(("Delay:Percentage", "100"), ("Delay:FixedDelay", "00:00:01")));
        using var faults = Collect(mesh, "mesh.faults.injected");
        var timers = mesh.Time.ScheduledTimers;

        var call = mesh.GetAsync(Items);
        await Poll.UntilAsync(() => mesh.Time.ScheduledTimers > timers || call.IsCompleted, because: "the delay's timer");
        backend.Sent.ShouldBeEmpty();
        mesh.Time.Advance(TimeSpan.FromSeconds(1));
        using var response = await call;

        // The first attempt's 503 is retried at once: the retry meets no second delay.
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        backend.Sent.Count.ShouldBe(2);
        faults.Sum().ShouldBe(1);
    }

    [Fact]
    public async Task With_PerAttempt_each_attempt_waits_the_delay()
    {
        var backend = new ScriptedBackend(s => ScriptedBackend.Answer(s.Number == 1 ? 503 : 200));
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"],
            RetriedRoute(("Delay:Percentage", "100"), ("Delay:FixedDelay", "00:00:01"), ("PerAttempt", "true")));
        using var faults = Collect(mesh, "mesh.faults.injected");

        var timers = mesh.Time.ScheduledTimers;
        var call = mesh.GetAsync(Items);
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            // Each delay is one timer, gone once it fired.
            await Poll.UntilAsync(() => mesh.Time.ScheduledTimers > timers || backend.Sent.Count >= attempt,
                because: $"the delay of attempt {attempt}");
            backend.Sent.Count.ShouldBe(attempt - 1);
            mesh.Time.Advance(TimeSpan.FromSeconds(1));
            await Poll.UntilAsync(() => backend.Sent.Count == attempt, because: $"attempt {attempt} sent");
        }

        using var response = await call;
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        faults.Sum().ShouldBe(2);
    }

    [Fact]
    public async Task A_call_deadline_shorter_than_the_delay_ends_the_call_as_a_timeout_unsent()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        var policy = RetriedRoute(("Delay:Percentage", "100"), ("Delay:FixedDelay", "00:00:05"));
        policy["Routes:0:Timeout"] = "00:00:01";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);
        var timers = mesh.Time.ScheduledTimers;

        var call = mesh.GetAsync(Items);
        await Poll.UntilAsync(() => mesh.Time.ScheduledTimers > timers || call.IsCompleted, because: "the timers started");
        mesh.Time.Advance(TimeSpan.FromSeconds(1));

        // Caught by hand: Should.ThrowAsync reports a cancelled task as a bare exception of its own, without the inner one.
        Exception? failure = null;
        try
        {
            using var response = await call;
        }
        catch (TaskCanceledException ex)
        {
            failure = ex;
        }

        failure.ShouldNotBeNull().InnerException.ShouldBeOfType<TimeoutException>();
        backend.Sent.ShouldBeEmpty();
    }
}
