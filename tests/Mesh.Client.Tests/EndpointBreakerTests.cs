using Mesh.Client.Resilience;
using Mesh.Testing;

namespace Mesh.Client.Tests;

public sealed class EndpointBreakerTests
{
    private static readonly CircuitBreakerOptions Options = new()
    {
        FailureRatio = 0.5,
        MinimumThroughput = 10,
        SamplingDuration = TimeSpan.FromSeconds(10),
        BreakDuration = TimeSpan.FromSeconds(5),
    };

    [Fact]
    public void Stays_closed_below_the_minimum_throughput_whatever_the_ratio()
    {
        var time = new ManualTimeProvider();
        var breaker = new EndpointBreaker(Options, time);

        for (var i = 0; i < 9; i++)
        {
            breaker.TryAcquire().ShouldBeTrue();
            breaker.Record(failure: true, time.GetTimestamp());
        }

        breaker.IsOpen.ShouldBeFalse();
        breaker.State.ShouldBe("closed");
    }

    [Fact]
    public void Opens_when_the_failure_share_reaches_the_ratio_and_refuses_until_the_break_is_over()
    {
        var time = new ManualTimeProvider();
        var breaker = new EndpointBreaker(Options, time);
        for (var i = 0; i < 5; i++)
        {
            breaker.Record(failure: false, time.GetTimestamp());
        }

        for (var i = 0; i < 4; i++)
        {
            breaker.Record(failure: true, time.GetTimestamp());
            breaker.IsOpen.ShouldBeFalse($"only {i + 1} failures of {i + 6}");
        }

        breaker.Record(failure: true, time.GetTimestamp()); // 5 of 10: the ratio is reached
        breaker.IsOpen.ShouldBeTrue();
        breaker.State.ShouldBe("open");
        breaker.TryAcquire().ShouldBeFalse();

        time.Advance(TimeSpan.FromSeconds(4.9));
        breaker.TryAcquire().ShouldBeFalse();
        breaker.IsOpen.ShouldBeTrue();
    }

    [Fact]
    public void After_the_break_one_probe_goes_through_and_its_success_closes_the_circuit_with_a_fresh_window()
    {
        var time = new ManualTimeProvider();
        var breaker = Opened(time);

        time.Advance(TimeSpan.FromSeconds(5));
        breaker.IsOpen.ShouldBeFalse("the break is over: the next attempt may probe");
        breaker.TryAcquire().ShouldBeTrue();
        breaker.State.ShouldBe("half-open");
        breaker.TryAcquire().ShouldBeFalse("one probe at a time");
        breaker.IsOpen.ShouldBeTrue("the probe is in flight");

        breaker.Record(failure: false, time.GetTimestamp());
        breaker.State.ShouldBe("closed");
        breaker.TryAcquire().ShouldBeTrue();

        // The failures that opened it are forgotten: one more failure does not reopen it.
        breaker.Record(failure: true, time.GetTimestamp());
        breaker.IsOpen.ShouldBeFalse();
    }

    [Fact]
    public void A_failed_probe_opens_the_circuit_for_another_break()
    {
        var time = new ManualTimeProvider();
        var breaker = Opened(time);

        time.Advance(TimeSpan.FromSeconds(5));
        breaker.TryAcquire().ShouldBeTrue();
        breaker.Record(failure: true, time.GetTimestamp());

        breaker.State.ShouldBe("open");
        breaker.TryAcquire().ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(4));
        breaker.TryAcquire().ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(1));
        breaker.TryAcquire().ShouldBeTrue();
    }

    [Fact]
    public void A_probe_that_never_reports_lets_another_through_after_one_more_break()
    {
        var time = new ManualTimeProvider();
        var breaker = Opened(time);

        time.Advance(TimeSpan.FromSeconds(5));
        breaker.TryAcquire().ShouldBeTrue();
        time.Advance(TimeSpan.FromSeconds(4));
        breaker.TryAcquire().ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(1));
        breaker.TryAcquire().ShouldBeTrue();
    }

    [Fact]
    public void Outcomes_that_arrive_while_open_change_nothing()
    {
        var time = new ManualTimeProvider();
        var breaker = Opened(time);

        breaker.Record(failure: false, time.GetTimestamp());
        breaker.State.ShouldBe("open");
        breaker.TryAcquire().ShouldBeFalse();
    }

    [Fact]
    public void Failures_older_than_the_sampling_duration_no_longer_count()
    {
        var time = new ManualTimeProvider();
        var breaker = new EndpointBreaker(Options, time);
        for (var i = 0; i < 9; i++)
        {
            breaker.Record(failure: true, time.GetTimestamp());
        }

        // Those nine slide out of the 10 s window; nine fresh successes and one failure are 10% failures.
        time.Advance(TimeSpan.FromSeconds(11));
        for (var i = 0; i < 9; i++)
        {
            breaker.Record(failure: false, time.GetTimestamp());
        }

        breaker.Record(failure: true, time.GetTimestamp());
        breaker.IsOpen.ShouldBeFalse();

        // Within the window they do count: the same nine failures a second later, then one more, are 10 of 19.
        var second = new EndpointBreaker(Options, time);
        for (var i = 0; i < 9; i++)
        {
            second.Record(failure: true, time.GetTimestamp());
        }

        time.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 9; i++)
        {
            second.Record(failure: false, time.GetTimestamp());
        }

        second.Record(failure: true, time.GetTimestamp());
        second.IsOpen.ShouldBeTrue();
    }

    [Fact]
    public async Task Concurrent_failures_open_it_once_and_every_thread_then_sees_it_open()
    {
        var time = new ManualTimeProvider();
        var breaker = new EndpointBreaker(Options, time);
        using var start = new Barrier(4);
        var workers = new Task[4];
        for (var w = 0; w < workers.Length; w++)
        {
            workers[w] = Task.Run(() =>
            {
                start.SignalAndWait();
                for (var i = 0; i < 1_000; i++)
                {
                    breaker.Record(failure: i % 2 == 0, time.GetTimestamp());
                }
            });
        }

        await Task.WhenAll(workers);
        breaker.State.ShouldBe("open");
        breaker.TryAcquire().ShouldBeFalse();
    }

    private static EndpointBreaker Opened(ManualTimeProvider time)
    {
        var breaker = new EndpointBreaker(Options, time);
        for (var i = 0; i < 10; i++)
        {
            breaker.Record(failure: true, time.GetTimestamp());
        }

        breaker.State.ShouldBe("open");
        return breaker;
    }
}
