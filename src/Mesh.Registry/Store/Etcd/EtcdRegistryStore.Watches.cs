using Mesh.Client.Registry;

namespace Mesh.Registry.Store.Etcd;

/// <summary>The store's watches, answered from the mirror: each parks on its service's (or the catalog's) signal, which an applied change completes.</summary>
internal sealed partial class EtcdRegistryStore
{
    public async Task<InstancesResponse> WatchInstancesAsync(string service, long? index, TimeSpan wait, CancellationToken cancellationToken)
    {
        await CatchUpIfNeededAsync(index).ConfigureAwait(false);
        Task changed;
        lock (_gate)
        {
            var s = _services.GetValueOrDefault(service);
            if (!ShouldWait(s?.InstancesIndex ?? 0, index))
            {
                return Instances(s, _time.GetUtcNow());
            }

            s ??= GetOrAdd(service);
            changed = s.InstancesChanged.Task;
        }

        await WaitAsync(changed, wait, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return Instances(_services.GetValueOrDefault(service), _time.GetUtcNow());
        }
    }

    public async Task<PolicyResponse> WatchPolicyAsync(string service, long? index, TimeSpan wait, CancellationToken cancellationToken)
    {
        await CatchUpIfNeededAsync(index).ConfigureAwait(false);
        Task changed;
        lock (_gate)
        {
            var s = _services.GetValueOrDefault(service);
            if (!ShouldWait(s?.PolicyIndex ?? 0, index))
            {
                return Policy(service, s);
            }

            s ??= GetOrAdd(service);
            changed = s.PolicyChanged.Task;
        }

        await WaitAsync(changed, wait, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return Policy(service, _services.GetValueOrDefault(service));
        }
    }

    public async Task<ServicesResponse> WatchServicesAsync(long? index, TimeSpan wait, CancellationToken cancellationToken)
    {
        await CatchUpIfNeededAsync(index).ConfigureAwait(false);
        Task changed;
        lock (_gate)
        {
            if (!ShouldWait(_index, index))
            {
                return Services(_time.GetUtcNow());
            }

            changed = _anyChange.Task;
        }

        await WaitAsync(changed, wait, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return Services(_time.GetUtcNow());
        }
    }

    public void StopWatches() => _watchesStopping.Cancel();

    /// <summary>
    /// A read that answers at once (no index) must see every acknowledged write, and so must a watch whose index this
    /// mirror has not reached (the caller saw another replica): both wait for the mirror to catch up with etcd first.
    /// A watch at an index the mirror has is answered from it; a later change wakes it when the mirror applies it.
    /// </summary>
    private Task CatchUpIfNeededAsync(long? index)
    {
        lock (_gate)
        {
            if (index is { } i && i <= _revision)
            {
                return Task.CompletedTask;
            }
        }

        return CatchUpAsync();
    }

    private async Task WaitAsync(Task changed, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _watchesStopping.Token);
        var delay = Task.Delay(wait, _time, cts.Token);
        Interlocked.Increment(ref _waiting);
        try
        {
            await Task.WhenAny(changed, delay).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        await cts.CancelAsync().ConfigureAwait(false);
    }

    /// <summary>Whether a watch at <paramref name="index"/> waits: only when the state is not newer than it and it is not from the future.</summary>
    private bool ShouldWait(long current, long? index) => index is { } i && current <= i && i <= _revision;
}
