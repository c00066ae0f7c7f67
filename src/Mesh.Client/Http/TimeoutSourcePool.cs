namespace Mesh.Client.Http;

/// <summary>
/// Cancellation token sources with a timer, kept for reuse: a call with a deadline (a route timeout, or the inbound
/// caller's budget, which every call made while serving a meshed request has) needs one, and a route with a per-try
/// timeout one per attempt. A new source with its timer is about 140 bytes and a timer-queue insert; a reused one is
/// a timer change. Lock-free: a fixed row of slots taken and filled by compare-and-swap.
/// </summary>
/// <remarks>
/// Only sources on the system clock come back: the runtime cannot reset one whose timer belongs to another
/// <see cref="TimeProvider"/>, so with a test clock every rent is a new source. A returned source loses every
/// callback still registered on its token, so a transport that kept one cannot be cancelled by the next call's timer.
/// </remarks>
internal sealed class TimeoutSourcePool(TimeProvider timeProvider)
{
    private static readonly Action<object?> CancelSource = static s => ((CancellationTokenSource)s!).Cancel();

    private readonly CancellationTokenSource?[] _slots = new CancellationTokenSource?[16];

    /// <summary>
    /// A source that cancels itself after <paramref name="delay"/>, or as soon as <paramref name="parent"/> is
    /// cancelled. Give it back with <see cref="Return(CancellationTokenSource, CancellationTokenRegistration)"/>.
    /// </summary>
    public CancellationTokenSource Rent(TimeSpan delay, CancellationToken parent, out CancellationTokenRegistration link)
    {
        var source = Rent(delay);
        link = parent.UnsafeRegister(CancelSource, source);
        return source;
    }

    /// <summary>
    /// Unlinks a source rented with a parent, then gives it back. In this order: once the link is disposed (which
    /// waits for a cancellation already running), the parent can no longer cancel the source the next call gets.
    /// </summary>
    public void Return(CancellationTokenSource source, CancellationTokenRegistration link)
    {
        link.Dispose();
        Return(source);
    }

    /// <summary>A source that cancels itself after <paramref name="delay"/> on the pool's clock.</summary>
    public CancellationTokenSource Rent(TimeSpan delay)
    {
        var slots = _slots;
        for (var i = 0; i < slots.Length; i++)
        {
            if (Volatile.Read(ref slots[i]) is { } candidate &&
                Interlocked.CompareExchange(ref slots[i], null, candidate) == candidate)
            {
                if (candidate.IsCancellationRequested)
                {
                    // Cannot happen after a successful reset; if it ever does, the source must not reach a call.
                    candidate.Dispose();
                    continue;
                }

                // The source was made with the pool's TimeProvider, so CancelAfter runs on that clock, not the system's.
#pragma warning disable RS0030
                candidate.CancelAfter(delay);
#pragma warning restore RS0030
                return candidate;
            }
        }

        return new CancellationTokenSource(delay, timeProvider);
    }

    /// <summary>
    /// Gives a source back once nothing registered on its token any more. One that fired, or whose timer could not be
    /// stopped, is disposed instead: it must never cancel the next call that gets it.
    /// </summary>
    public void Return(CancellationTokenSource source)
    {
        if (!source.TryReset())
        {
            source.Dispose();
            return;
        }

        var slots = _slots;
        for (var i = 0; i < slots.Length; i++)
        {
            if (Volatile.Read(ref slots[i]) is null && Interlocked.CompareExchange(ref slots[i], source, null) is null)
            {
                return;
            }
        }

        source.Dispose();
    }
}
