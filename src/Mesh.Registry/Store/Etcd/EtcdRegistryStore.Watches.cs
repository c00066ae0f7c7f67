using Mesh.Client.Registry;
using Mesh.Registry.Watches;

namespace Mesh.Registry.Store.Etcd;

/// <summary>The store's watches, answered from the mirror: each parks on its service's (or the catalog's) signal, which an applied change completes.</summary>
internal sealed partial class EtcdRegistryStore
{
    public async Task<InstancesResponse> WatchInstancesAsync(string service, long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken)
    {
        await CatchUpIfNeededAsync(index).ConfigureAwait(false);
        Task changed;
        EtcdServiceEntry parked;
        lock (_gate)
        {
            var s = _services.GetValueOrDefault(service);
            if (!ShouldWait(s?.InstancesIndex ?? 0, index))
            {
                return Instances(s, _time.GetUtcNow());
            }

            s ??= GetOrAdd(service);
            changed = s.InstancesChanged.Task;
            parked = s;
            s.Parked++;
        }

        await WaitParkedAsync(parked, changed, wait, caller, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return Instances(_services.GetValueOrDefault(service), _time.GetUtcNow());
        }
    }

    public async Task<PolicyResponse> WatchPolicyAsync(string service, long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken)
    {
        await CatchUpIfNeededAsync(index).ConfigureAwait(false);
        Task changed;
        EtcdServiceEntry parked;
        lock (_gate)
        {
            var s = _services.GetValueOrDefault(service);
            if (!ShouldWait(s?.PolicyIndex ?? 0, index))
            {
                return Policy(service, s);
            }

            s ??= GetOrAdd(service);
            changed = s.PolicyChanged.Task;
            parked = s;
            s.Parked++;
        }

        await WaitParkedAsync(parked, changed, wait, caller, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return Policy(service, _services.GetValueOrDefault(service));
        }
    }

    public async Task<ServicesResponse> WatchServicesAsync(long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken)
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

        await WaitAsync(changed, wait, caller, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return Services(_time.GetUtcNow());
        }
    }

    /// <summary>
    /// The named services that changed after <paramref name="index"/> (every one without it), with the mirror's
    /// revision as the global index (see <see cref="ServicesWatch"/>).
    /// </summary>
    public async Task<ServicesWatchResponse> WatchServiceStatesAsync(IReadOnlyCollection<string> services, long? index, TimeSpan wait,
        WatchCaller caller, CancellationToken cancellationToken)
    {
        await CatchUpIfNeededAsync(index).ConfigureAwait(false);
        var watch = new ServicesWatch(services);
        return await ServicesWatch.RunAsync(deadlinePassed =>
        {
            lock (_gate)
            {
                var since = index is { } i && i <= _revision ? i : (long?)null;
                if (since is null || deadlinePassed || watch.ChangedSinceLastLook(_recentChanges, () => AnyChangedSince(services, since.Value)))
                {
                    return (ServiceStates(services, since), null);
                }

                return (null, _anyChange.Task);
            }
        }, wait, _time, _waiting, caller, cancellationToken, _watchesStopping.Token).ConfigureAwait(false);
    }

    public void StopWatches() => _watchesStopping.Cancel();

    /// <summary>Whether a named service's instances or policy changed after <paramref name="index"/>.</summary>
    private bool AnyChangedSince(IReadOnlyCollection<string> services, long index)
    {
        foreach (var name in services)
        {
            if (_services.TryGetValue(name, out var s) && (s.InstancesIndex > index || s.PolicyIndex > index))
            {
                return true;
            }
        }

        return false;
    }

    private ServicesWatchResponse ServiceStates(IReadOnlyCollection<string> services, long? since)
    {
        var answer = new ServicesWatchResponse { Index = _revision };
        var now = _time.GetUtcNow();
        foreach (var name in services)
        {
            var s = _services.GetValueOrDefault(name);
            if (since is null || (s is not null && (s.InstancesIndex > since || s.PolicyIndex > since)))
            {
                answer.Services.Add(new ServiceState { Name = name, Instances = Instances(s, now), Policy = Policy(name, s) });
            }
        }

        return answer;
    }

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

    /// <summary>Waits as <see cref="WaitAsync"/> on a service's signal, then lets the service's entry go if only watches made it.</summary>
    private async Task WaitParkedAsync(EtcdServiceEntry parked, Task changed, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken)
    {
        try
        {
            await WaitAsync(changed, wait, caller, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                parked.Parked--;
                if (parked.IsUnused && _services.TryGetValue(parked.Name, out var current) && ReferenceEquals(current, parked))
                {
                    _services.Remove(parked.Name);
                }
            }
        }
    }

    private Task WaitAsync(Task changed, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken) =>
        ParkedWait.WaitAsync(changed, wait, caller, _waiting, _time, _watchesStopping.Token, cancellationToken);

    /// <summary>Whether a watch at <paramref name="index"/> waits: only when the state is not newer than it and it is not from the future.</summary>
    private bool ShouldWait(long current, long? index) => index is { } i && current <= i && i <= _revision;
}
