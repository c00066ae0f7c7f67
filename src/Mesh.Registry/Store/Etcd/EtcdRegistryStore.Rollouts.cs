using Etcdserverpb;

namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// Rollouts: one key per service, read straight from etcd (they are read once a second by one replica, never on a
/// client's path, so the mirror does not keep them), written only while the key's mod revision is the one the writer
/// read. The replica that holds <c>meta/decider</c> drives them, as it decides expiry.
/// </summary>
internal sealed partial class EtcdRegistryStore
{
    public bool DrivesRollouts => _isDecider;

    public async Task<StoredRollout?> GetRolloutAsync(string service)
    {
        var read = await RangeAsync($"the rollout of {service}", new RangeRequest { Key = EtcdKeys.Bytes(_keys.Rollout(service)) }).ConfigureAwait(false);
        return read.Kvs.Count == 0 ? null : new StoredRollout(service, read.Kvs[0].Value.ToStringUtf8(), read.Kvs[0].ModRevision);
    }

    public async Task<IReadOnlyList<StoredRollout>> ListRolloutsAsync()
    {
        var folder = _keys.Rollouts;
        var read = await RangeAsync("the rollouts", new RangeRequest { Key = EtcdKeys.Bytes(folder), RangeEnd = EtcdKeys.RangeEnd(folder) })
            .ConfigureAwait(false);
        var list = new List<StoredRollout>(read.Kvs.Count);
        foreach (var kv in read.Kvs)
        {
            if (_keys.Parse(kv.Key.ToStringUtf8()) is { Folder: EtcdKeys.RolloutsFolder, Id: null } parsed)
            {
                list.Add(new StoredRollout(parsed.Name, kv.Value.ToStringUtf8(), kv.ModRevision));
            }
        }

        return list;
    }

    public async Task<StoredRollout?> WriteRolloutAsync(string service, string document, long expectedRevision, bool asDriver)
    {
        var key = _keys.Rollout(service);
        var txn = new TxnRequest();
        txn.Compare.Add(expectedRevision == 0 ? Absent(key) : ModRevisionIs(key, expectedRevision));
        if (asDriver)
        {
            // A replica cut off from etcd past its session lease believes it drives until its next keep-alive is
            // answered; meanwhile another replica drives, and this one's step must change nothing.
            txn.Compare.Add(HoldsDeciderLock());
            txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = EtcdKeys.Bytes(_keys.Decider) } });
        }

        txn.Success.Add(Put(key, document));
        var response = await CommitAsync($"the rollout of {service}", txn).ConfigureAwait(false);
        if (response.Succeeded)
        {
            return new StoredRollout(service, document, response.Header.Revision);
        }

        if (asDriver && !StillDecider(response))
        {
            LostDeciderLock();
        }

        return null;
    }
}
