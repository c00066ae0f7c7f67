namespace Mesh.Client.Routing;

/// <summary>
/// Mirror copies of one service in flight at once. A copy runs beside the caller for up to ten seconds and holds its
/// body, outside the service's <c>ConnectionPool</c> limit; a mirror that stops answering would otherwise pile up a
/// copy per mirrored call. Beyond <see cref="MaxInFlight"/> a copy is skipped (and counted so), never queued: the
/// mirror is a best-effort shadow and the caller must not pay for it.
/// </summary>
internal sealed class MirrorLimit
{
    /// <summary>Copies of one service in flight at most, whatever its routes' percentages.</summary>
    public const int MaxInFlight = 100;

    private int _inFlight;

    /// <summary>Takes a place for one copy; false when <see cref="MaxInFlight"/> copies are in flight.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _inFlight) <= MaxInFlight)
        {
            return true;
        }

        Interlocked.Decrement(ref _inFlight);
        return false;
    }

    /// <summary>Gives the place of a copy that ended back.</summary>
    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Copies in flight now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);
}
