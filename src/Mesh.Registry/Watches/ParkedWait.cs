namespace Mesh.Registry.Watches;

/// <summary>
/// Where a watch waits in a place of its caller's: until <c>changed</c> completes, <c>wait</c> passes, the request is
/// aborted or the registry stops. Both stores and the CA's trust bundle park here, so each takes and gives back its
/// place the same way.
/// </summary>
internal static class ParkedWait
{
    /// <summary>
    /// Waits; a <paramref name="wait"/> of zero or less returns at once without taking a place (a read that answers at
    /// once is never refused). Throws <see cref="TooManyWatchesException"/> before anything is armed when the caller has
    /// no place left. <paramref name="waiting"/>, when given, counts the watch while it is parked.
    /// </summary>
    public static async Task WaitAsync(Task changed, TimeSpan wait, WatchCaller caller, WatchCounter? waiting, TimeProvider time,
        CancellationToken stopping, CancellationToken cancellationToken)
    {
        if (wait <= TimeSpan.Zero)
        {
            return;
        }

        caller.Park();
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
            var delay = Task.Delay(wait, time, cts.Token);
            waiting?.Enter();
            try
            {
                await Task.WhenAny(changed, delay).ConfigureAwait(false);
            }
            finally
            {
                waiting?.Exit();
            }

            await cts.CancelAsync().ConfigureAwait(false);
        }
        finally
        {
            caller.Unpark();
        }
    }
}
