using Etcdserverpb;
using Mesh.Registry.Instances;

namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// Lease expiry, decided by one replica at a time: the one holding the <c>meta/decider</c> key, created only while
/// absent and bound to that replica's session lease, so a replica that dies or loses etcd gives it up within
/// <see cref="DeciderLeaseSeconds"/> and another takes it. The decider sweeps as the embedded store does (a timer
/// for the earliest deadline, the shared <see cref="MassExpiryGuard"/> rule) and writes its verdicts to etcd, where
/// every replica's mirror sees them.
/// </summary>
internal sealed partial class EtcdRegistryStore
{
    private const int DeciderLeaseSeconds = 6;
    private const int ExpiryBatch = 40;

    private readonly ITimer _sweepTimer;
    private string? _decider;
    private volatile bool _isDecider;
    private long _deciderLease;
    private DateTimeOffset? _armedFor;
    private int _sweeping;
    private bool _sweepAgain;

    private async Task DeciderLoopAsync()
    {
        while (!_closing.IsCancellationRequested)
        {
            try
            {
                if (!_isDecider)
                {
                    await TryBecomeDeciderAsync().ConfigureAwait(false);
                }
                else if (await _keepAlive.KeepAliveAsync(_deciderLease).ConfigureAwait(false) <= 0)
                {
                    _isDecider = false;
                    _logger.LogWarning("This replica's session lease in etcd ended; another replica decides lease expiry now");
                }

                await Task.Delay(TimeSpan.FromSeconds(DeciderLeaseSeconds / 3.0), TimeProvider.System, _closing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_closing.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // etcd unreachable: keep trying; while the session lease lives this replica still decides
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _logger.LogDebug(ex, "The decider loop could not reach etcd");
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System, _closing.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task TryBecomeDeciderAsync()
    {
        lock (_gate)
        {
            if (_decider is not null)
            {
                return;
            }
        }

        var session = await _connection.CallAsync("a lease grant",
            o => _connection.Raw.LeaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = DeciderLeaseSeconds }, o)).ConfigureAwait(false);
        var txn = new TxnRequest();
        txn.Compare.Add(Absent(_keys.Decider));
        txn.Success.Add(Put(_keys.Decider, _replicaId, session.ID));
        if (!(await CommitAsync("the decider lock", txn).ConfigureAwait(false)).Succeeded)
        {
            RevokeLater(session.ID);
            return;
        }

        Volatile.Write(ref _deciderLease, session.ID);
        _isDecider = true;
        _logger.LogInformation("This replica ({Replica}) decides lease expiry", _replicaId);
        lock (_gate)
        {
            Arm(_time.GetUtcNow());
        }
    }

    private void ReleaseDecider()
    {
        if (!_isDecider)
        {
            return;
        }

        _isDecider = false;
        try
        {
            // Revoking the session deletes the decider key at once, so another replica takes over without waiting out the lease.
            RevokeAsync(_deciderLease).Wait(_connection.Timeout);
        }
        catch (AggregateException)
        {
            // Logged by RevokeAsync; the key then ends with its lease.
        }
    }

    private void OnSweepTimer()
    {
        if (_isDecider && !_closing.IsCancellationRequested)
        {
            _ = SweepAsync();
        }
    }

    /// <summary>
    /// One sweep at a time; a timer that fires meanwhile asks for another right after it, so a deadline that passes
    /// during a sweep is not left to the next one.
    /// </summary>
    private async Task SweepAsync()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            Volatile.Write(ref _sweepAgain, true);
            return;
        }

        try
        {
            do
            {
                Volatile.Write(ref _sweepAgain, false);
                var swept = await SweepOnceAsync().ConfigureAwait(false);
                lock (_gate)
                {
                    if (_isDecider && !_disposed)
                    {
                        var now = _time.GetUtcNow();
                        if (swept)
                        {
                            Arm(now);
                        }
                        else
                        {
                            ArmAt(now + TimeSpan.FromSeconds(1), now);
                        }
                    }
                }
            }
            while (Volatile.Read(ref _sweepAgain) && !_closing.IsCancellationRequested);
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }

        if (Volatile.Read(ref _sweepAgain) && !_closing.IsCancellationRequested)
        {
            _ = SweepAsync();
        }
    }

    /// <summary>Judges every service and writes the verdicts; false when etcd refused or failed a write (the caller retries in a second).</summary>
    private async Task<bool> SweepOnceAsync()
    {
        var now = _time.GetUtcNow();
        try
        {
            var expiring = new List<Expiry>();
            var holds = new List<(string Service, EtcdHeldValue? Hold)>();
            lock (_gate)
            {
                _armedFor = null;
                foreach (var s in _services.Values)
                {
                    Judge(s, now, expiring, holds);
                }
            }

            foreach (var (service, hold) in holds)
            {
                var txn = new TxnRequest();
                txn.Compare.Add(HoldsDeciderLock());
                txn.Success.Add(hold is null ? Delete(_keys.Held(service)) : Put(_keys.Held(service), Json(hold)));
                var written = await CommitAsync($"the expiry guard's hold on {service}", txn).ConfigureAwait(false);
                if (!written.Succeeded)
                {
                    LostDeciderLock();
                    return true;
                }

                // The next sweep must judge with the hold in the mirror, or it would start the same hold again.
                await WaitAppliedAsync(written.Header.Revision, throwOnTimeout: false).ConfigureAwait(false);
            }

            foreach (var expiry in expiring)
            {
                await ExpireAsync(expiry, now).ConfigureAwait(false);
            }

            return true;
        }
#pragma warning disable CA1031 // a failing sweep must not take the process down from a timer; the next one tries again
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _logger.LogWarning(ex, "Lease sweep failed; retrying in one second");
            return false;
        }
    }

    /// <summary>
    /// The guard's verdict on one service, as the embedded store reaches it; the writes it calls for are collected and
    /// made after. A hold that ends because its instances expire ends in the same transaction as their expiry, so no
    /// read sees them expired and unheld at once.
    /// </summary>
    private void Judge(EtcdServiceEntry s, DateTimeOffset now, List<Expiry> expiring, List<(string, EtcdHeldValue?)> holds)
    {
        List<ExpiringInstance>? expired = null;
        var window = TimeSpan.Zero;
        foreach (var i in s.Instances.Values)
        {
            if (i.ExpiresAt <= now)
            {
                (expired ??= []).Add(new ExpiringInstance(i.Id, i.ModRevision, i.LeaseModRevision, i.Lease));
            }

            window = TimeSpan.FromSeconds(Math.Max(window.TotalSeconds, i.Value.TtlSeconds));
        }

        var recent = new List<DateTimeOffset>();
        foreach (var at in s.RecentExpirations)
        {
            if (at > now - window)
            {
                recent.Add(at);
            }
        }

        switch (MassExpiryGuard.Judge(_options, expired?.Count ?? 0, s.Instances.Count, recent.Count, s.HeldSince, now))
        {
            case MassExpiryVerdict.NothingExpired:
                if (s.HeldSince is not null)
                {
                    _logger.LogInformation("Mass-expiry guard: no longer holding instances of {Service}: no instance of it has an expired lease", s.Name);
                    holds.Add((s.Name, null));
                }

                return;
            case MassExpiryVerdict.ExpireAfterMaxHold:
                _logger.LogWarning("Mass-expiry guard: releasing {Count} held instances of {Service} after holding them for {Duration}",
                    expired!.Count, s.Name, now - s.HeldSince!.Value);
                expiring.Add(new Expiry(s, expired, recent, CountInWindow: false, EndsHold: true));
                return;
            case MassExpiryVerdict.Hold:
                if (s.HeldSince is null)
                {
                    _guardActivations.Add(1, new KeyValuePair<string, object?>("service", s.Name));
                    _logger.LogWarning(
                        "Mass-expiry guard: {Count} of {Total} instances of {Service} would expire within {Window} (threshold {Threshold}); holding them",
                        expired!.Count + recent.Count, s.Instances.Count + recent.Count, s.Name, window, _options.MassExpiryThreshold);
                    holds.Add((s.Name, new EtcdHeldValue(now, expired.Count)));
                }
                else if (s.HeldCount != expired!.Count)
                {
                    holds.Add((s.Name, new EtcdHeldValue(s.HeldSince.Value, expired.Count)));
                }

                return;
            case MassExpiryVerdict.Expire:
                if (s.HeldSince is not null)
                {
                    _logger.LogInformation("Mass-expiry guard: no longer holding instances of {Service}: the share of expiring instances fell under the threshold",
                        s.Name);
                }

                expiring.Add(new Expiry(s, expired!, recent, CountInWindow: true, EndsHold: s.HeldSince is not null));
                return;
        }
    }

    /// <summary>
    /// Removes expired instances, a batch per transaction, each only if neither its registration nor its lease key moved
    /// since the mirror saw them: a renewal that reached etcd first wins. The service's recent expirations (the guard's
    /// window) are written with them, so every replica's reads judge the guard on the same numbers.
    /// </summary>
    private async Task ExpireAsync(Expiry expiry, DateTimeOffset now)
    {
        var s = expiry.Service;
        var recent = new List<DateTimeOffset>(expiry.Recent);
        var endsHold = expiry.EndsHold;
        for (var start = 0; start < expiry.Instances.Count; start += ExpiryBatch)
        {
            var batch = expiry.Instances.GetRange(start, Math.Min(ExpiryBatch, expiry.Instances.Count - start));
            var txn = new TxnRequest();
            txn.Compare.Add(HoldsDeciderLock());
            txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = EtcdKeys.Bytes(_keys.Decider) } });
            foreach (var i in batch)
            {
                var key = _keys.Instance(s.Name, i.Id);
                txn.Compare.Add(ModRevisionIs(key, i.ModRevision));
                txn.Compare.Add(ModRevisionIs(_keys.Lease(s.Name, i.Id), i.LeaseModRevision));
                txn.Success.Add(Delete(key));
                txn.Success.Add(Delete(_keys.Lease(s.Name, i.Id)));
            }

            if (expiry.CountInWindow)
            {
                recent.AddRange(Enumerable.Repeat(now, batch.Count));
                txn.Success.Add(Put(_keys.RecentExpirations(s.Name), Json(recent)));
            }

            if (endsHold)
            {
                txn.Success.Add(Delete(_keys.Held(s.Name)));
            }

            txn.Success.Add(Put(_keys.InstancesIndex(s.Name), string.Empty));
            var response = await CommitAsync($"the expiry of {batch.Count} instances of {s.Name}", txn).ConfigureAwait(false);
            if (!response.Succeeded && !StillDecider(response))
            {
                LostDeciderLock();
                return;
            }

            if (!response.Succeeded)
            {
                // Something was renewed or changed meanwhile. The next sweep judges again once the mirror has it (the
                // failed transaction's revision is at least the change's): judged on the same stale entries it would
                // fail again at once, over and over, while the watch is down.
                if (expiry.CountInWindow)
                {
                    recent.RemoveRange(recent.Count - batch.Count, batch.Count);
                }

                await WaitAppliedAsync(response.Header.Revision, throwOnTimeout: false).ConfigureAwait(false);
                continue;
            }

            endsHold = false;
            foreach (var i in batch)
            {
                RevokeLater(i.Lease);
            }

            _expired.Add(batch.Count, new KeyValuePair<string, object?>("service", s.Name));
            _logger.LogInformation("Expired {Count} instances of {Service}: {Ids}", batch.Count, s.Name, string.Join(", ", batch.Select(i => i.Id)));
            await WaitAppliedAsync(response.Header.Revision, throwOnTimeout: false).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Every write of the decider's is made only while the <c>meta/decider</c> key is still bound to its session lease:
    /// a replica cut off from etcd past that lease keeps believing it decides until its next keep-alive is answered,
    /// and meanwhile another replica decides; its writes must then change nothing.
    /// </summary>
    private Compare HoldsDeciderLock() => new()
    {
        Key = EtcdKeys.Bytes(_keys.Decider),
        Target = Compare.Types.CompareTarget.Lease,
        Result = Compare.Types.CompareResult.Equal,
        Lease = Volatile.Read(ref _deciderLease),
    };

    /// <summary>Whether a failed decider transaction failed on something else than the lock (its failure branch reads the lock's key).</summary>
    private bool StillDecider(TxnResponse response) =>
        response.Responses.Count > 0 && response.Responses[0].ResponseRange is { } read && read.Kvs.Count > 0 &&
        read.Kvs[0].Lease == Volatile.Read(ref _deciderLease);

    private void LostDeciderLock()
    {
        if (_isDecider)
        {
            _isDecider = false;
            _logger.LogWarning("This replica no longer holds the decider lock in etcd; another replica decides lease expiry now");
        }
    }

    /// <summary>Arms the sweep timer for the earliest lease deadline or guard release (under the lock).</summary>
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

        if (next is null || (_armedFor is { } armed && armed <= next && armed > now))
        {
            if (next is null)
            {
                _armedFor = null;
                _sweepTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }

            return;
        }

        SetTimer(next.Value, now);
    }

    /// <summary>Arms the sweep timer for <paramref name="at"/> unless it is armed earlier already (under the lock).</summary>
    private void ArmAt(DateTimeOffset at, DateTimeOffset now)
    {
        if (_armedFor is not { } armed || at < armed || armed <= now)
        {
            SetTimer(at, now);
        }
    }

    private void SetTimer(DateTimeOffset at, DateTimeOffset now)
    {
        _armedFor = at;
        if (at <= now)
        {
            // Due already: sweep now rather than through a timer, which a test's manual clock would not fire until it moves.
            _sweepTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _ = Task.Run(SweepAsync);
            return;
        }

        var due = at - now;
        due = due < TimeSpan.FromTicks(1) ? TimeSpan.FromTicks(1) : due > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : due;
        _sweepTimer.Change(due, Timeout.InfiniteTimeSpan);
    }
}
