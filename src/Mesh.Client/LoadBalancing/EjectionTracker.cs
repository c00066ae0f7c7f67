namespace Mesh.Client.LoadBalancing;

/// <summary>
/// Whether any endpoint of a service is ejected right now. Pickers ask it first so that the common case, nothing
/// ejected, costs one field read and no clock read.
/// </summary>
internal sealed class EjectionTracker(TimeProvider timeProvider)
{
    private long _latestEjectionEnd;

    public TimeProvider TimeProvider { get; } = timeProvider;

    /// <summary>The panic threshold of the current policy (percent of healthy endpoints).</summary>
    public double MinHealthPercent { get; set; } = 50;

    public bool TryGetActive(out long now)
    {
        var until = Volatile.Read(ref _latestEjectionEnd);
        if (until == 0)
        {
            now = 0;
            return false;
        }

        now = TimeProvider.GetTimestamp();
        if (now < until)
        {
            return true;
        }

        Interlocked.CompareExchange(ref _latestEjectionEnd, 0, until);
        return false;
    }

    public void OnEjected(long until)
    {
        long current;
        do
        {
            current = Volatile.Read(ref _latestEjectionEnd);
            if (current >= until)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _latestEjectionEnd, until, current) != current);
    }

    /// <summary>Panic mode: too few healthy endpoints left, so ejections are ignored and all take traffic.</summary>
    public bool IsPanic(EndpointState[] endpoints, long now)
    {
        var healthy = 0;
        foreach (var e in endpoints)
        {
            if (!e.IsEjected(now))
            {
                healthy++;
            }
        }

        return healthy == 0 || healthy * 100.0 < endpoints.Length * MinHealthPercent;
    }
}
