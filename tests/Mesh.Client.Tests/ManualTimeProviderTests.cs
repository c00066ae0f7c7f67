using Mesh.Testing;

namespace Mesh.Client.Tests;

/// <summary>The tests' clock: time moves only forward, whoever moves it.</summary>
public sealed class ManualTimeProviderTests
{
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
}
