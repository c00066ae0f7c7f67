using Mesh.Client.Resilience;
using Mesh.Testing;

namespace Mesh.Client.Tests;

public sealed class EndpointBreakerTests
{
    private static readonly CircuitBreakerModel Options = CircuitBreakerModel.From(new CircuitBreakerOptions
    {
        FailureRatio = 0.5,
        MinimumThroughput = 10,
        SamplingDuration = TimeSpan.FromSeconds(10),
        BreakDuration = TimeSpan.FromSeconds(5),
    })!;

    [Fact]
    public void Stays_closed_below_the_minimum_throughput_whatever_the_ratio()
    {
        var time = new ManualTimeProvider();
        var breaker = new EndpointBreaker(Options, time);

        for (var i = 0; i < 9; i++)
        {
            breaker.TryAcquire(out _).ShouldBeTrue();
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
        breaker.TryAcquire(out _).ShouldBeFalse();

        time.Advance(TimeSpan.FromSeconds(4.9));
        breaker.TryAcquire(out _).ShouldBeFalse();
        breaker.IsOpen.ShouldBeTrue();
    }

    [Fact]
    public void After_the_break_one_probe_goes_through_and_its_success_closes_the_circuit_with_a_fresh_window()
    {
        var time = new ManualTimeProvider();
        var breaker = Opened(time);

        time.Advance(TimeSpan.FromSeconds(5));
        breaker.IsOpen.ShouldBeFalse("the break is over: the next attempt may probe");
        breaker.TryAcquire(out _).ShouldBeTrue();
        breaker.State.ShouldBe("half-open");
        breaker.TryAcquire(out _).ShouldBeFalse("one probe at a time");
        breaker.IsOpen.ShouldBeTrue("the probe is in flight");

        breaker.Record(failure: false, time.GetTimestamp());
        breaker.State.ShouldBe("closed");
        breaker.TryAcquire(out _).ShouldBeTrue();

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
        breaker.TryAcquire(out _).ShouldBeTrue();
        breaker.Record(failure: true, time.GetTimestamp());

        breaker.State.ShouldBe("open");
        breaker.TryAcquire(out _).ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(4));
        breaker.TryAcquire(out _).ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(1));
        breaker.TryAcquire(out _).ShouldBeTrue();
    }

    [Fact]
    public void A_probe_that_never_reports_lets_another_through_after_one_more_break()
    {
        var time = new ManualTimeProvider();
        var breaker = Opened(time);

        time.Advance(TimeSpan.FromSeconds(5));
        breaker.TryAcquire(out _).ShouldBeTrue();
        time.Advance(TimeSpan.FromSeconds(4));
        breaker.TryAcquire(out _).ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(1));
        breaker.TryAcquire(out _).ShouldBeTrue();
    }

    [Fact]
    public void Outcomes_that_arrive_while_open_change_nothing()
    {
        var time = new ManualTimeProvider();
        var breaker = Opened(time);

        breaker.Record(failure: false, time.GetTimestamp());
        breaker.State.ShouldBe("open");
        breaker.TryAcquire(out _).ShouldBeFalse();
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
    public async Task When_many_callers_race_for_the_probe_exactly_one_gets_it()
    {
        for (var round = 0; round < 50; round++)
        {
            var time = new ManualTimeProvider();
            var breaker = Opened(time);
            time.Advance(TimeSpan.FromSeconds(5));

            using var start = new Barrier(4);
            var granted = 0;
            var probes = 0;
            var workers = new Task[4];
            for (var w = 0; w < workers.Length; w++)
            {
                workers[w] = Task.Run(() =>
                {
                    start.SignalAndWait();
                    for (var i = 0; i < 100; i++)
                    {
                        if (breaker.TryAcquire(out var probe))
                        {
                            Interlocked.Increment(ref granted);
                        }

                        if (probe)
                        {
                            Interlocked.Increment(ref probes);
                        }
                    }
                });
            }

            await Task.WhenAll(workers);
            granted.ShouldBe(1, $"round {round}");
            probes.ShouldBe(1, $"round {round}");
        }
    }

    [Fact]
    public void Only_the_attempt_that_takes_the_half_open_slot_is_the_probe()
    {
        var time = new ManualTimeProvider();
        var breaker = new EndpointBreaker(Options, time);
        breaker.TryAcquire(out var closedProbe).ShouldBeTrue();
        closedProbe.ShouldBeFalse("a closed breaker has no probe");

        breaker = Opened(time);
        time.Advance(TimeSpan.FromSeconds(5));
        breaker.TryAcquire(out var probe).ShouldBeTrue();
        probe.ShouldBeTrue();
        breaker.TryAcquire(out var second).ShouldBeFalse();
        second.ShouldBeFalse();
    }

    [Fact]
    public void A_released_probe_lets_the_next_attempt_probe_at_once()
    {
        var time = new ManualTimeProvider();
        var breaker = Opened(time);
        time.Advance(TimeSpan.FromSeconds(5));
        breaker.TryAcquire(out _).ShouldBeTrue();
        breaker.TryAcquire(out _).ShouldBeFalse();

        // Its caller gave up: that says nothing about the endpoint, so nobody should wait another break for a probe.
        breaker.ReleaseProbe();
        breaker.TryAcquire(out var probe).ShouldBeTrue();
        probe.ShouldBeTrue();
    }

    [Fact]
    public void The_gauge_state_stays_open_until_a_probe_runs()
    {
        var time = new ManualTimeProvider();
        var breaker = Opened(time);
        breaker.IsOpenState.ShouldBeTrue();

        time.Advance(TimeSpan.FromSeconds(6));
        breaker.IsOpen.ShouldBeFalse("the next attempt may probe");
        breaker.IsOpenState.ShouldBeTrue("nothing has shown the endpoint healthy yet");

        breaker.TryAcquire(out _).ShouldBeTrue();
        breaker.IsOpenState.ShouldBeFalse("half-open");
        breaker.Record(failure: false, time.GetTimestamp());
        breaker.IsOpenState.ShouldBeFalse();
        breaker.State.ShouldBe("closed");
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
