using Mesh.Client.Registry;
using Mesh.Registry.Watches;

namespace Mesh.Registry.Store.Sqlite;

/// <summary>The store's watches: each parks on its service's (or the catalog's) signal, which a change completes and replaces.</summary>
internal sealed partial class SqliteRegistryStore
{
    public async Task<InstancesResponse> WatchInstancesAsync(string service, long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken)
    {
        Task changed;
        ServiceEntry parked;
        lock (_gate)
        {
            var s = Find(service, create: index is not null);
            if (s is not null)
            {
                SweepService(s, _time.GetUtcNow());
            }

            if (s is null || !ShouldWait(s.InstancesIndex, index))
            {
                return Instances(s);
            }

            changed = s.InstancesChanged.Task;
            parked = s;
            s.Parked++;
        }

        await WaitParkedAsync(parked, changed, wait, caller, cancellationToken);
        lock (_gate)
        {
            var s = Find(service, create: false);
            if (s is not null)
            {
                SweepService(s, _time.GetUtcNow());
            }

            return Instances(s);
        }
    }

    public async Task<PolicyResponse> WatchPolicyAsync(string service, long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken)
    {
        Task changed;
        ServiceEntry parked;
        lock (_gate)
        {
            var s = Find(service, create: index is not null);
            if (s is null || !ShouldWait(s.PolicyIndex, index))
            {
                return Policy(service, s);
            }

            changed = s.PolicyChanged.Task;
            parked = s;
            s.Parked++;
        }

        await WaitParkedAsync(parked, changed, wait, caller, cancellationToken);
        lock (_gate)
        {
            return Policy(service, Find(service, create: false));
        }
    }

    /// <summary>The catalog; watched on the global index, so it answers after any change anywhere.</summary>
    public async Task<ServicesResponse> WatchServicesAsync(long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_gate)
        {
            SweepAll(_time.GetUtcNow());
            if (!ShouldWait(_index, index))
            {
                return Services();
            }

            changed = _anyChange.Task;
        }

        await WaitAsync(changed, wait, caller, cancellationToken);
        lock (_gate)
        {
            SweepAll(_time.GetUtcNow());
            return Services();
        }
    }

    /// <summary>Many services' states as one watch (see <see cref="ServicesWatch"/>).</summary>
    public Task<ServicesWatchResponse> WatchServiceStatesAsync(IReadOnlyCollection<string> services, long? index, TimeSpan wait,
        WatchCaller caller, CancellationToken cancellationToken)
    {
        var watch = new ServicesWatch(services);
        return ServicesWatch.RunAsync(deadlinePassed =>
        {
            lock (_gate)
            {
                var since = index is { } i && i <= _index ? i : (long?)null;
                if (since is null || deadlinePassed ||
                    watch.ChangedSinceLastLook(_recentChanges, () => AnyChangedSince(services, since.Value, _time.GetUtcNow())))
                {
                    return (ServiceStates(services, since), null);
                }

                return (null, _anyChange.Task);
            }
        }, wait, _time, _waiting, caller, cancellationToken, _stopping.Token);
    }

    public void StopWatches() => _stopping.Cancel();

    /// <summary>Whether a named service's instances or policy changed after <paramref name="index"/>; sweeps each first, as its own watch would.</summary>
    private bool AnyChangedSince(IReadOnlyCollection<string> services, long index, DateTimeOffset now)
    {
        foreach (var name in services)
        {
            if (_services.TryGetValue(name, out var s))
            {
                SweepService(s, now);
                if (s.InstancesIndex > index || s.PolicyIndex > index)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>The named services that changed after <paramref name="since"/> (all of them when null), with the global index; swept already.</summary>
    private ServicesWatchResponse ServiceStates(IReadOnlyCollection<string> services, long? since)
    {
        var answer = new ServicesWatchResponse();
        var now = _time.GetUtcNow();
        foreach (var name in services)
        {
            var s = Find(name, create: false);
            if (s is not null)
            {
                SweepService(s, now);
            }

            if (since is null || (s is not null && (s.InstancesIndex > since || s.PolicyIndex > since)))
            {
                answer.Services.Add(new ServiceState { Name = name, Instances = Instances(s), Policy = Policy(name, s) });
            }
        }

        // Read after the sweeps, which may have stamped expiries.
        answer.Index = _index;
        return answer;
    }

    /// <summary>Waits as <see cref="WaitAsync"/> on a service's signal, then lets the service's entry go if only watches made it.</summary>
    private async Task WaitParkedAsync(ServiceEntry parked, Task changed, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken)
    {
        try
        {
            await WaitAsync(changed, wait, caller, cancellationToken);
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
        ParkedWait.WaitAsync(changed, wait, caller, _waiting, _time, _stopping.Token, cancellationToken);

    /// <summary>Whether a watch at <paramref name="index"/> waits: only when the state is not newer than it and it is not from the future.</summary>
    private bool ShouldWait(long current, long? index) => index is { } i && current <= i && i <= _index;

    private void Changed(ServiceEntry s, long index, bool policy)
    {
        _index = index;
        _recentChanges.Add(s.Name);
        if (policy)
        {
            s.PolicyIndex = index;
            var signal = s.PolicyChanged;
            s.PolicyChanged = WatchSignal.New();
            signal.TrySetResult();
        }
        else
        {
            s.InstancesIndex = index;
            var signal = s.InstancesChanged;
            s.InstancesChanged = WatchSignal.New();
            signal.TrySetResult();
        }

        var any = _anyChange;
        _anyChange = WatchSignal.New();
        any.TrySetResult();
    }
}
