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

    /// <summary>
    /// The named services that changed after <paramref name="index"/> (every one without it), with the mirror's
    /// revision as the global index. A wake by a change elsewhere looks only at the services changed since the last look.
    /// </summary>
    public async Task<ServicesWatchResponse> WatchServiceStatesAsync(IReadOnlyCollection<string> services, long? index, TimeSpan wait,
        CancellationToken cancellationToken)
    {
        await CatchUpIfNeededAsync(index).ConfigureAwait(false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _watchesStopping.Token);
        Task? deadline = null;
        var parked = false;
        var looked = -1L;
        HashSet<string>? named = null;
        try
        {
            while (true)
            {
                Task changed;
                lock (_gate)
                {
                    var since = index is { } i && i <= _revision ? i : (long?)null;
                    if (since is null || deadline is { IsCompleted: true } || ChangedSince(services, since.Value, ref looked, ref named))
                    {
                        return ServiceStates(services, since);
                    }

                    changed = _anyChange.Task;
                }

                deadline ??= Task.Delay(wait, _time, cts.Token);
                if (!parked)
                {
                    parked = true;
                    Interlocked.Increment(ref _waiting);
                }

                await Task.WhenAny(changed, deadline).ConfigureAwait(false);
            }
        }
        finally
        {
            if (parked)
            {
                Interlocked.Decrement(ref _waiting);
            }

            await cts.CancelAsync().ConfigureAwait(false);
        }
    }

    public void StopWatches() => _watchesStopping.Cancel();

    /// <summary>
    /// Whether a named service changed after <paramref name="index"/>: the first look reads every named service, a later
    /// one only the services changed since (<paramref name="looked"/> counts changes) while the ring still has them all.
    /// </summary>
    private bool ChangedSince(IReadOnlyCollection<string> services, long index, ref long looked, ref HashSet<string>? named)
    {
        var changed = false;
        if (looked >= 0 && _changeCount - looked <= _recentChanges.Length)
        {
            named ??= new HashSet<string>(services, StringComparer.Ordinal);
            for (var c = looked + 1; c <= _changeCount && !changed; c++)
            {
                changed = named.Contains(_recentChanges[c % _recentChanges.Length]!);
            }
        }
        else
        {
            foreach (var name in services)
            {
                if (_services.TryGetValue(name, out var s) && (s.InstancesIndex > index || s.PolicyIndex > index))
                {
                    changed = true;
                    break;
                }
            }
        }

        looked = _changeCount;
        return changed;
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
