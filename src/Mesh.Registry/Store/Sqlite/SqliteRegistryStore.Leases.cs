using Mesh.Registry.Watches;

namespace Mesh.Registry.Store.Sqlite;

/// <summary>The group commit of renewals: one writer thread commits each batch of renewed leases in one transaction.</summary>
internal sealed partial class SqliteRegistryStore
{
    /// <summary>Puts a renewed instance in the lease writer's next batch (under the lock); the task completes when it is committed.</summary>
    private Task QueueLease(InstanceEntry entry)
    {
        if (_pendingLeases.Count == 0)
        {
            _leaseWork.Set();
        }

        _pendingLeases.Add(entry);
        return _leasesWritten.Task;
    }

    /// <summary>
    /// The lease writer: commits each batch of renewals in one transaction, then completes the renewals' calls. While a
    /// batch commits, the next one fills, so the batch grows with the load and a lone renewal is written at once.
    /// </summary>
    /// <remarks>
    /// Under the registry's lock the writer takes the batch and copies each instance's lease as it is in memory then (so
    /// a later renewal in the same batch wins), skipping instances that are gone or were replaced since (deregistered,
    /// expired, changed): their removal or new row was committed on its own, after the renewal, and is the newer truth.
    /// Before it lets go of the registry's lock it takes the store's (<see cref="SqliteRegistryDatabase.Hold"/>), so a change
    /// that comes after the copy, and writes under the registry's lock, is written after the batch, never before it.
    /// The batch is then written without the registry's lock: renewals, reads and watch wake-ups go on while it commits
    /// (a WAL checkpoint can take a while on a slow disk); only a change waits for it.
    /// </remarks>
    private void WriteLeases()
    {
        while (true)
        {
            _leaseWork.Wait();
            TaskCompletionSource written;
            Lock.Scope store;
            lock (_gate)
            {
                _leaseWork.Reset();
                if (_pendingLeases.Count == 0)
                {
                    if (_disposed)
                    {
                        return;
                    }

                    continue;
                }

                foreach (var entry in _pendingLeases)
                {
                    if (IsCurrent(entry))
                    {
                        _leaseSnapshot.Add(Clone(entry));
                    }
                }

                _pendingLeases.Clear();
                written = _leasesWritten;
                _leasesWritten = WatchSignal.New();
                store = _store.Hold();
            }

            Exception? failure = null;
            try
            {
                _store.RenewAll(_leaseSnapshot);
            }
#pragma warning disable CA1031 // the renewals' calls get the failure (a 500); the writer must go on for the next batch
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failure = ex;
            }
            finally
            {
                store.Dispose();
            }

            if (failure is null)
            {
                written.TrySetResult();
            }
            else
            {
                _logger.LogError(failure, "Writing {Count} renewed leases failed; their renewals were not acknowledged", _leaseSnapshot.Count);
                written.TrySetException(failure);
            }

            _leaseSnapshot.Clear();
        }
    }

    private bool IsCurrent(InstanceEntry entry) =>
        _services.TryGetValue(entry.Service, out var s) && s.Instances.TryGetValue(entry.Id, out var current) && ReferenceEquals(current, entry);

    private static InstanceEntry Clone(InstanceEntry i) => new()
    {
        Service = i.Service,
        Id = i.Id,
        Address = i.Address,
        Version = i.Version,
        Zone = i.Zone,
        Labels = i.Labels,
        TtlSeconds = i.TtlSeconds,
        RenewedAt = i.RenewedAt,
        ExpiresAt = i.ExpiresAt,
    };
}
