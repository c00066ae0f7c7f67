using Mesh.Client.Registry;

namespace Mesh.Registry.Watches;

/// <summary>
/// One watch of many services (<c>POST /v1/watch</c>), the same on every store. It parks on the catalog's signal, which
/// any change completes, and looks again; a change to a service it does not name parks it again on the next signal
/// (taken under the store's lock with the look, so no change falls between them), until a named service changed or
/// the one deadline passed.
/// </summary>
internal sealed class ServicesWatch(IReadOnlyCollection<string> services)
{
    private long _looked = -1;
    private HashSet<string>? _named;

    /// <summary>
    /// Runs the watch. <paramref name="look"/> runs under the store's lock: given whether the deadline passed, it
    /// returns the answer, or null and the signal to park on.
    /// </summary>
    public static async Task<ServicesWatchResponse> RunAsync(Func<bool, (ServicesWatchResponse? Answer, Task? Changed)> look, TimeSpan wait,
        TimeProvider time, WatchCounter waiting, WatchCaller caller, CancellationToken cancellationToken, CancellationToken stopping)
    {
        if (wait <= TimeSpan.Zero)
        {
            // It parks for no time: answered at once, as at its deadline, taking no place.
            return look(true).Answer!;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        Task? deadline = null;
        var parked = false;
        try
        {
            while (true)
            {
                var (answer, changed) = look(deadline is { IsCompleted: true });
                if (answer is not null)
                {
                    return answer;
                }

                if (!parked)
                {
                    caller.Park();
                    parked = true;
                    waiting.Enter();
                }

                deadline ??= Task.Delay(wait, time, cts.Token);

                await Task.WhenAny(changed!, deadline).ConfigureAwait(false);
            }
        }
        finally
        {
            if (parked)
            {
                waiting.Exit();
                caller.Unpark();
            }

            await cts.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether a named service changed since the last look: the first look, or one after changes have left
    /// <paramref name="recent"/>, reads every named service (<paramref name="readAll"/>); a later one reads only the
    /// changes since, so a change elsewhere costs a watch of 1000 services a lookup or two, not 1000.
    /// </summary>
    public bool ChangedSinceLastLook(RecentChanges recent, Func<bool> readAll)
    {
        _named ??= _looked >= 0 ? new HashSet<string>(services, StringComparer.Ordinal) : null;
        var changed = (_named is null ? null : recent.TouchedAfter(_looked, _named)) ?? readAll();

        // Read after readAll, whose sweeps may have counted changes of their own.
        _looked = recent.Count;
        return changed;
    }
}
