namespace Mesh.Client.LoadBalancing;

/// <summary>
/// When the latest slow start of any endpoint of a service began. Pickers ask it first so that the common case, no
/// endpoint ramping up, costs one field read and no clock read. Kept across model rebuilds with the service's state.
/// </summary>
internal sealed class SlowStartTracker(TimeProvider timeProvider)
{
    private long _latestStart;

    public TimeProvider TimeProvider { get; } = timeProvider;

    /// <summary>An endpoint starts ramping up at <paramref name="at"/> (a timestamp, possibly in the future).</summary>
    public void OnStarted(long at)
    {
        long current;
        do
        {
            current = Volatile.Read(ref _latestStart);
            if (current >= at)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _latestStart, at, current) != current);
    }

    /// <summary>Whether some endpoint may be ramping up at <paramref name="now"/> under a window of <paramref name="windowTicks"/>.</summary>
    public bool TryGetActive(long windowTicks, out long now)
    {
        var latest = Volatile.Read(ref _latestStart);
        if (latest == 0)
        {
            now = 0;
            return false;
        }

        now = TimeProvider.GetTimestamp();
        if (now - latest < windowTicks)
        {
            return true;
        }

        Interlocked.CompareExchange(ref _latestStart, 0, latest);
        return false;
    }
}
