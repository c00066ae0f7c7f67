namespace Mesh.Testing;

/// <summary>
/// A clock that moves only when a test says so. Timers fire, in due order, as <see cref="Advance"/> passes them: the
/// clock steps to each timer's due time before its callback runs, and every Advance fires the timers it passes on
/// its own thread before it returns, even while another thread is inside a callback.
/// </summary>
/// <remarks>
/// FakeTimeProvider (Microsoft.Extensions.TimeProvider.Testing 11.0.0) differs on both counts, which the tests that
/// measure elapsed time across a timer, or advance the clock from a backend while the test advances it too, rely on:
/// its <c>Advance</c> sets the clock to the target first and then fires what is due, so a callback reads the target
/// instead of its due time; and its <c>WakeWaiters</c> lets one thread at a time fire timers, so an Advance made while
/// another thread is in a callback returns at once and leaves its due timers to that other thread.
/// ManualTimeProviderTests pins both differences. Where neither matters, a test can use FakeTimeProvider.
/// </remarks>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private DateTimeOffset _now;
    private long _timestamp;

    public ManualTimeProvider(DateTimeOffset? start = null)
    {
        _now = start ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        _timestamp = TimeSpan.TicksPerDay; // not zero: zero means "unset" in places
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _now;
        }
    }

    public override long GetTimestamp()
    {
        lock (_lock)
        {
            return _timestamp;
        }
    }

    /// <summary>Timers waiting for their due time: a test can wait until the code under test has started one.</summary>
    public int ScheduledTimers
    {
        get
        {
            lock (_lock)
            {
                return _timers.Count;
            }
        }
    }

    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);

        DateTimeOffset target;
        lock (_lock)
        {
            target = _now + by;
        }

        while (true)
        {
            ManualTimer? due = null;
            lock (_lock)
            {
                foreach (var t in _timers)
                {
                    if (t.DueAt <= target && (due is null || t.DueAt < due.DueAt))
                    {
                        due = t;
                    }
                }

                // Never backwards: another thread may have advanced past this call's target (or this timer's due
                // time) while a callback ran outside the lock. A test's backend may move the clock while the test
                // moves it too, and going back would make a round trip measured across both come out as zero.
                if (due is null)
                {
                    if (target > _now)
                    {
                        _timestamp += (target - _now).Ticks;
                        _now = target;
                    }

                    return;
                }

                if (due.DueAt > _now)
                {
                    _timestamp += (due.DueAt - _now).Ticks;
                    _now = due.DueAt;
                }

                if (due.Period is { } period && period > TimeSpan.Zero)
                {
                    due.DueAt = _now + period;
                }
                else
                {
                    _timers.Remove(due);
                }
            }

            due.Fire();
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset DueAt { get; set; }

        public TimeSpan? Period { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                owner._timers.Remove(this);
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    return true;
                }

                DueAt = owner._now + dueTime;
                Period = period == Timeout.InfiniteTimeSpan ? null : period;
                owner._timers.Add(this);
            }

            if (dueTime == TimeSpan.Zero)
            {
                owner.Advance(TimeSpan.Zero);
            }

            return true;
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
