using Mesh.Registry.Instances;

namespace Mesh.Registry.Store.Sqlite;

/// <summary>Lease expiry: the sweep timer armed for the earliest deadline, and the mass-expiry guard.</summary>
internal sealed partial class SqliteRegistryStore
{
    private void OnSweepTimer()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            var now = _time.GetUtcNow();
            _armedFor = null;
            try
            {
                SweepAll(now);
                Arm(now);
            }
#pragma warning disable CA1031 // a failing store must not take the process down from a timer; try again shortly
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _logger.LogError(ex, "Lease sweep failed; retrying in one second");
                _armedFor = now + TimeSpan.FromSeconds(1);
                _sweepTimer.Change(TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void SweepAll(DateTimeOffset now)
    {
        foreach (var s in _services.Values)
        {
            SweepService(s, now);
        }
    }

    /// <summary>Expires the service's instances whose lease has passed, as <see cref="MassExpiryGuard"/> judges.</summary>
    private void SweepService(ServiceEntry s, DateTimeOffset now)
    {
        List<InstanceEntry>? expired = null;
        var window = TimeSpan.Zero;
        foreach (var i in s.Instances.Values)
        {
            if (i.ExpiresAt <= now)
            {
                (expired ??= []).Add(i);
            }

            window = TimeSpan.FromSeconds(Math.Max(window.TotalSeconds, i.TtlSeconds));
        }

        while (s.RecentExpirations.TryPeek(out var at) && at <= now - window)
        {
            s.RecentExpirations.Dequeue();
        }

        var recent = s.RecentExpirations.Count;
        switch (MassExpiryGuard.Judge(_options, expired?.Count ?? 0, s.Instances.Count, recent, s.HeldSince, now))
        {
            case MassExpiryVerdict.NothingExpired:
                Release(s, "no instance of it has an expired lease");
                return;
            case MassExpiryVerdict.ExpireAfterMaxHold:
                _logger.LogWarning("Mass-expiry guard: releasing {Count} held instances of {Service} after holding them for {Duration}",
                    expired!.Count, s.Name, now - s.HeldSince!.Value);
                Expire(s, expired, now, countInWindow: false);
                Release(s, null);
                return;
            case MassExpiryVerdict.Hold:
                if (s.HeldSince is null)
                {
                    s.HeldSince = now;
                    _guardActivations.Add(1, new KeyValuePair<string, object?>("service", s.Name));
                    _logger.LogWarning(
                        "Mass-expiry guard: {Count} of {Total} instances of {Service} would expire within {Window} (threshold {Threshold}); holding them",
                        expired!.Count + recent, s.Instances.Count + recent, s.Name, window, _options.MassExpiryThreshold);
                }

                s.HeldCount = expired!.Count;
                return;
            case MassExpiryVerdict.Expire:
                Expire(s, expired!, now, countInWindow: true);
                Release(s, "the share of expiring instances fell under the threshold");
                return;
        }
    }

    private void Release(ServiceEntry s, string? why)
    {
        if (s.HeldSince is not null && why is not null)
        {
            _logger.LogInformation("Mass-expiry guard: no longer holding instances of {Service}: {Reason}", s.Name, why);
        }

        s.HeldSince = null;
        s.HeldCount = 0;
    }

    private void Expire(ServiceEntry s, List<InstanceEntry> expired, DateTimeOffset now, bool countInWindow)
    {
        var index = _index + 1;
        _store.RemoveInstances(s.Name, expired.Select(i => i.Id), index);
        foreach (var i in expired)
        {
            s.Instances.Remove(i.Id);

            // Its last traffic report goes with it: nothing else drops it, and a workload that registers ids and lets
            // them lapse would otherwise grow the registry's memory for as long as nobody reads the dashboard.
            _traffic.Remove(s.Name, i.Id);
            if (countInWindow)
            {
                s.RecentExpirations.Enqueue(now);
            }
        }

        Changed(s, index, policy: false);
        _expired.Add(expired.Count, new KeyValuePair<string, object?>("service", s.Name));
        _logger.LogInformation("Expired {Count} instances of {Service}: {Ids}", expired.Count, s.Name, string.Join(", ", expired.Select(i => i.Id)));
    }

    /// <summary>
    /// Arms the sweep timer for the earliest lease deadline (at once for one already passed, e.g. after a restart) or
    /// guard release. Instances the guard holds wait for their service's release instead.
    /// </summary>
    private void Arm(DateTimeOffset now)
    {
        DateTimeOffset? next = null;
        foreach (var s in _services.Values)
        {
            foreach (var i in s.Instances.Values)
            {
                if ((s.HeldSince is null || i.ExpiresAt > now) && (next is null || i.ExpiresAt < next))
                {
                    next = i.ExpiresAt;
                }
            }

            if (s.HeldSince is { } since && (next is null || since + _options.MassExpiryMaxHold < next))
            {
                next = since + _options.MassExpiryMaxHold;
            }
        }

        SetTimer(next, now);
    }

    private void ArmIfEarlier(DateTimeOffset deadline, DateTimeOffset now)
    {
        if (_armedFor is null || deadline < _armedFor)
        {
            SetTimer(deadline, now);
        }
    }

    private void SetTimer(DateTimeOffset? at, DateTimeOffset now)
    {
        _armedFor = at;
        if (at is null)
        {
            _sweepTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        // Never zero (a zero due time may fire on this thread, under the lock), never beyond what a timer takes.
        var due = at.Value - now;
        due = due < TimeSpan.FromTicks(1) ? TimeSpan.FromTicks(1) : due > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : due;
        _sweepTimer.Change(due, Timeout.InfiniteTimeSpan);
    }
}
