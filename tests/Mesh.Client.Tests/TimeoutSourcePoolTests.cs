using Mesh.Client.Http;
using Mesh.Testing;

namespace Mesh.Client.Tests;

public sealed class TimeoutSourcePoolTests
{
    [Fact]
    public void A_rented_source_cancels_itself_after_its_delay()
    {
        var time = new ManualTimeProvider();
        var pool = new TimeoutSourcePool(time);

        var source = pool.Rent(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromMilliseconds(999));
        source.IsCancellationRequested.ShouldBeFalse();
        time.Advance(TimeSpan.FromMilliseconds(1));
        source.IsCancellationRequested.ShouldBeTrue();
    }

    [Fact]
    public void A_source_rented_with_a_parent_follows_it_until_returned_and_never_after()
    {
        var pool = new TimeoutSourcePool(TimeProvider.System);
        using var firstParent = new CancellationTokenSource();
        var first = pool.Rent(TimeSpan.FromMinutes(1), firstParent.Token, out var firstLink);
        pool.Return(first, firstLink);

        using var secondParent = new CancellationTokenSource();
        var second = pool.Rent(TimeSpan.FromMinutes(1), secondParent.Token, out var secondLink);
        second.ShouldBeSameAs(first);
        firstParent.Cancel();
        second.IsCancellationRequested.ShouldBeFalse("the first call's parent was unlinked when it was returned");
        secondParent.Cancel();
        second.IsCancellationRequested.ShouldBeTrue("the current parent cancels it");
        pool.Return(second, secondLink);
        pool.Rent(TimeSpan.FromMinutes(1)).ShouldNotBeSameAs(second, "a cancelled source is never reused");
    }

    [Fact]
    public void A_returned_source_is_reused_without_the_previous_calls_callbacks()
    {
        var pool = new TimeoutSourcePool(TimeProvider.System);
        var first = pool.Rent(TimeSpan.FromMinutes(1));
        var oldCallbackRan = false;
        first.Token.Register(() => oldCallbackRan = true);
        pool.Return(first);

        var second = pool.Rent(TimeSpan.FromMinutes(1));
        second.ShouldBeSameAs(first);
        second.Cancel();
        oldCallbackRan.ShouldBeFalse("the previous call's registrations were dropped when it was returned");
    }

    [Fact]
    public async Task A_returned_source_does_not_fire_at_its_old_due_time()
    {
        var pool = new TimeoutSourcePool(TimeProvider.System);
        for (var i = 0; i < 5; i++)
        {
            // Returned long before its 300 ms are up (unless the machine stalls; then it is not pooled, and we try
            // again), and left in the pool: nothing re-arms its timer.
            var first = pool.Rent(TimeSpan.FromMilliseconds(300));
            pool.Return(first);

            // Proving that something does not happen takes waiting past the moment it would have.
            await Task.Delay(TimeSpan.FromMilliseconds(600));
            var again = pool.Rent(TimeSpan.FromMinutes(1));
            if (!ReferenceEquals(again, first))
            {
                again.Dispose();
                continue;
            }

            again.IsCancellationRequested.ShouldBeFalse("a pooled source's old timer fired");
            return;
        }

        throw new InvalidOperationException("A source returned at once was never pooled in five tries.");
    }

    [Fact]
    public void On_a_clock_of_its_own_each_rent_gets_a_fresh_source_that_fires_on_that_clock()
    {
        // The runtime resets only sources on the system clock; with any other TimeProvider returned ones are disposed.
        var time = new ManualTimeProvider();
        var pool = new TimeoutSourcePool(time);
        var first = pool.Rent(TimeSpan.FromSeconds(1));
        pool.Return(first);
        time.Advance(TimeSpan.FromSeconds(2));

        var second = pool.Rent(TimeSpan.FromSeconds(5));
        second.IsCancellationRequested.ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(4));
        second.IsCancellationRequested.ShouldBeFalse();
        time.Advance(TimeSpan.FromSeconds(1));
        second.IsCancellationRequested.ShouldBeTrue();
    }

    [Fact]
    public void A_source_that_fired_is_never_handed_out_again()
    {
        var time = new ManualTimeProvider();
        var pool = new TimeoutSourcePool(time);
        var fired = pool.Rent(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromSeconds(1));
        fired.IsCancellationRequested.ShouldBeTrue();
        pool.Return(fired);

        var next = pool.Rent(TimeSpan.FromSeconds(1));
        next.ShouldNotBeSameAs(fired);
        next.IsCancellationRequested.ShouldBeFalse();
    }

    [Fact]
    public void A_source_cancelled_by_hand_is_not_reused_either()
    {
        var pool = new TimeoutSourcePool(TimeProvider.System);
        var cancelled = pool.Rent(TimeSpan.FromMinutes(1));
        cancelled.Cancel();
        pool.Return(cancelled);

        var next = pool.Rent(TimeSpan.FromMinutes(1));
        next.ShouldNotBeSameAs(cancelled);
        next.IsCancellationRequested.ShouldBeFalse();
        pool.Return(next);
        pool.Rent(TimeSpan.FromMinutes(1)).ShouldBeSameAs(next, "a source returned unfired on the system clock is reused");
    }

    [Fact]
    public void More_returns_than_slots_dispose_the_rest_and_every_rent_still_works()
    {
        var pool = new TimeoutSourcePool(TimeProvider.System);
        var rented = new List<CancellationTokenSource>();
        for (var i = 0; i < 40; i++)
        {
            rented.Add(pool.Rent(TimeSpan.FromMinutes(1)));
        }

        foreach (var source in rented)
        {
            pool.Return(source);
        }

        var again = new HashSet<CancellationTokenSource>();
        for (var i = 0; i < 40; i++)
        {
            var source = pool.Rent(TimeSpan.FromMinutes(1));
            source.IsCancellationRequested.ShouldBeFalse();
            again.Add(source);
        }

        again.Count.ShouldBe(40);
        again.Intersect(rented).Count().ShouldBe(16, "the pool keeps 16");
        foreach (var source in again)
        {
            source.Dispose();
        }
    }
}
