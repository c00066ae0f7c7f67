using Etcdserverpb;
using Grpc.Core;

namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// Renewals, the registry's hot path: every instance every few seconds. They are group-committed, up to
/// <see cref="RenewalBatch"/> in one etcd transaction (etcd allows 128 operations in one), by a few writers so that a
/// batch forms while the one before is in the cluster's log; a renewal is answered once its batch is committed.
/// </summary>
internal sealed partial class EtcdRegistryStore
{
    private const int RenewalBatch = 60;
    private const int RenewalWriters = 4;

    private readonly EtcdLeaseKeepAlive _keepAlive;

    private async Task WriteRenewalsAsync()
    {
        var batch = new List<PendingRenewal>(RenewalBatch);
        var reader = _renewals.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < RenewalBatch && reader.TryRead(out var renewal))
            {
                // A renewal whose caller gave up (answered unavailable) is not written late.
                if (!renewal.Done.Task.IsCompleted)
                {
                    batch.Add(renewal);
                }
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                await CommitRenewalsAsync(batch).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // the renewals' callers get the failure; the writer goes on with the next batch
            catch (Exception ex)
#pragma warning restore CA1031
            {
                foreach (var renewal in batch)
                {
                    renewal.Done.TrySetException(ex);
                }
            }
        }
    }

    private async Task CommitRenewalsAsync(List<PendingRenewal> batch)
    {
        // One transaction may name a key once: the same instance renewed twice in a batch writes its latest value.
        var latest = new Dictionary<string, PendingRenewal>(StringComparer.Ordinal);
        foreach (var renewal in batch)
        {
            latest[renewal.LeaseKey] = renewal;
        }

        var pending = new List<PendingRenewal>(latest.Values);
        while (pending.Count > 0)
        {
            var txn = new TxnRequest();
            foreach (var renewal in pending)
            {
                txn.Compare.Add(ModRevisionIs(renewal.InstanceKey, renewal.InstanceRevision));
                txn.Success.Add(Put(renewal.LeaseKey, renewal.Value, renewal.Lease));

                // Refused, the transaction reads back every instance key's revision: the renewals whose instance changed
                // are answered at once and the rest go in one more transaction, not one transaction each, which would
                // cut the writers' throughput sixty-fold while registrations churn (a rolling deployment).
                txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = EtcdKeys.Bytes(renewal.InstanceKey), KeysOnly = true } });
            }

            TxnResponse response;
            try
            {
                response = await CommitAsync($"{pending.Count} lease renewals", txn).ConfigureAwait(false);
            }
            catch (RegistryStoreUnavailableException ex) when (ex.InnerException is RpcException { StatusCode: StatusCode.NotFound })
            {
                // A lease in the batch was revoked (its instance expired or changed): commit the others one by one.
                await CommitOneByOneAsync(batch, pending).ConfigureAwait(false);
                return;
            }

            if (response.Succeeded)
            {
                foreach (var renewal in pending)
                {
                    Complete(batch, renewal.LeaseKey, committed: true);
                }

                return;
            }

            var unchanged = new List<PendingRenewal>(pending.Count);
            for (var k = 0; k < pending.Count; k++)
            {
                var read = response.Responses[k].ResponseRange;
                if (read.Kvs.Count > 0 && read.Kvs[0].ModRevision == pending[k].InstanceRevision)
                {
                    unchanged.Add(pending[k]);
                }
                else
                {
                    Complete(batch, pending[k].LeaseKey, committed: false);
                }
            }

            pending = unchanged;
        }
    }

    private async Task CommitOneByOneAsync(List<PendingRenewal> batch, List<PendingRenewal> pending)
    {
        foreach (var renewal in pending)
        {
            var single = new TxnRequest();
            single.Compare.Add(ModRevisionIs(renewal.InstanceKey, renewal.InstanceRevision));
            single.Success.Add(Put(renewal.LeaseKey, renewal.Value, renewal.Lease));
            bool committed;
            try
            {
                committed = (await CommitAsync("a lease renewal", single).ConfigureAwait(false)).Succeeded;
            }
            catch (RegistryStoreUnavailableException ex) when (ex.InnerException is RpcException { StatusCode: StatusCode.NotFound })
            {
                committed = false;
            }

            Complete(batch, renewal.LeaseKey, committed);
        }
    }

    /// <summary>Answers every renewal of the batch that wrote <paramref name="leaseKey"/>.</summary>
    private static void Complete(List<PendingRenewal> batch, string leaseKey, bool committed)
    {
        foreach (var renewal in batch)
        {
            if (renewal.LeaseKey == leaseKey)
            {
                renewal.Done.TrySetResult(committed);
            }
        }
    }

    /// <summary>
    /// Keeps the instance's etcd lease alive, at most once per half of its longest life rather than on every renewal.
    /// The lease is granted for one and a half of that life (<see cref="TryChangeAsync"/>), so after any renewal it
    /// outlives the instance's deadline plus the longest hold even when its last keep-alive was half a life before.
    /// </summary>
    private void KeepAliveIfDue(EtcdInstanceEntry entry)
    {
        var now = TimeProvider.System.GetTimestamp();
        var half = LongestLife(entry.Value.TtlSeconds) / 2;
        lock (_gate)
        {
            if (entry.KeptAliveAt != 0 && TimeProvider.System.GetElapsedTime(entry.KeptAliveAt, now) < half)
            {
                return;
            }

            entry.KeptAliveAt = now;
        }

        _keepAlive.Send(entry.Lease);
    }

    /// <summary>How long an instance may stay after a renewal: its TTL, then the longest the mass-expiry guard holds it.</summary>
    private TimeSpan LongestLife(int ttlSeconds) => TimeSpan.FromSeconds(ttlSeconds) + _options.MassExpiryMaxHold;
}
