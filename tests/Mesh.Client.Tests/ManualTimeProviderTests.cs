using Mesh.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Mesh.Client.Tests;

/// <summary>
/// The tests' clock: time moves only forward, whoever moves it; a timer sees its own due time; an Advance fires its
/// own due timers before it returns. The FakeTimeProvider cases pin why ManualTimeProvider exists: if a FakeTimeProvider
/// release starts to behave like it, they fail, and the tests that need the difference can move to FakeTimeProvider.
/// </summary>
public sealed class ManualTimeProviderTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    // Only a guard against a hang if a callback never runs; no assertion depends on how long anything takes.
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    [Fact]
    public void A_timer_callback_that_moves_the_clock_further_is_not_undone_by_the_advance_that_fired_it()
    {
        // As when a test advances past a delay and the code it releases goes on to a backend that advances the clock
        // too: the outer advance ends at 50 ms, the callback took the clock to 57 ms, and 57 ms it stays.
        var time = new ManualTimeProvider();
        var start = time.GetTimestamp();
        var startedAt = time.GetUtcNow();
        using var timer = time.CreateTimer(_ => time.Advance(TimeSpan.FromMilliseconds(7)), null, TimeSpan.FromMilliseconds(50), Timeout.InfiniteTimeSpan);

        time.Advance(TimeSpan.FromMilliseconds(50));

        time.GetElapsedTime(start).ShouldBe(TimeSpan.FromMilliseconds(57));
        (time.GetUtcNow() - startedAt).ShouldBe(TimeSpan.FromMilliseconds(57));

        // And the next advance goes on from there.
        time.Advance(TimeSpan.FromMilliseconds(3));
        time.GetElapsedTime(start).ShouldBe(TimeSpan.FromMilliseconds(60));
    }

    [Fact]
    public void A_timer_reads_its_due_time_on_the_manual_clock()
    {
        var time = new ManualTimeProvider(Start);

        SeenByTimerDueAt50Ms(time, advanceBy: TimeSpan.FromSeconds(1)).ShouldBe(Start.AddMilliseconds(50));
    }

    [Fact]
    public void A_timer_reads_the_advance_target_on_FakeTimeProvider()
    {
        var time = new FakeTimeProvider(Start);

        SeenByTimerDueAt50Ms(time, advanceBy: TimeSpan.FromSeconds(1)).ShouldBe(Start.AddSeconds(1));
    }

    [Fact]
    public void An_advance_fires_its_due_timers_before_it_returns_even_while_another_thread_is_in_a_callback()
    {
        var time = new ManualTimeProvider(Start);

        OwnTimerFiredWhenConcurrentAdvanceReturned(time, time.Advance).ShouldBeTrue();
    }

    [Fact]
    public void An_advance_on_FakeTimeProvider_returns_before_its_due_timers_while_another_thread_is_in_a_callback()
    {
        var time = new FakeTimeProvider(Start);

        OwnTimerFiredWhenConcurrentAdvanceReturned(time, time.Advance).ShouldBeFalse();
    }

    private static DateTimeOffset SeenByTimerDueAt50Ms(TimeProvider time, TimeSpan advanceBy)
    {
        var seen = default(DateTimeOffset);
        using var timer = time.CreateTimer(_ => seen = time.GetUtcNow(), null, TimeSpan.FromMilliseconds(50), Timeout.InfiniteTimeSpan);
        Advance(time, advanceBy);
        seen.ShouldNotBe(default, "the timer fired");
        return seen;
    }

    /// <summary>
    /// Thread A advances to 20 ms and blocks inside the callback of a timer due at 10 ms; meanwhile this thread advances
    /// by 30 ms, past a second timer due at 30 ms. Gives whether that second timer had fired when this thread's Advance
    /// returned.
    /// </summary>
    private static bool OwnTimerFiredWhenConcurrentAdvanceReturned(TimeProvider time, Action<TimeSpan> advance)
    {
        using var inCallback = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var secondFired = 0;
        using var blocking = time.CreateTimer(_ =>
        {
            inCallback.Set();
            release.Wait(Guard);
        }, null, TimeSpan.FromMilliseconds(10), Timeout.InfiniteTimeSpan);
        using var second = time.CreateTimer(_ => Interlocked.Exchange(ref secondFired, 1), null, TimeSpan.FromMilliseconds(30), Timeout.InfiniteTimeSpan);

        var threadA = Task.Run(() => advance(TimeSpan.FromMilliseconds(20)));
        try
        {
            inCallback.Wait(Guard).ShouldBeTrue("thread A is inside the first timer's callback");
            advance(TimeSpan.FromMilliseconds(30));
            return Volatile.Read(ref secondFired) == 1;
        }
        finally
        {
            release.Set();
            threadA.Wait(Guard).ShouldBeTrue("thread A's advance returns once its callback is released");
        }
    }

    private static void Advance(TimeProvider time, TimeSpan by)
    {
        switch (time)
        {
            case ManualTimeProvider manual:
                manual.Advance(by);
                break;
            case FakeTimeProvider fake:
                fake.Advance(by);
                break;
            default:
                throw new ArgumentException("a test clock", nameof(time));
        }
    }
}
