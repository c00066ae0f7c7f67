using Etcdserverpb;
using Mvccpb;

namespace Mesh.Registry.Store.Etcd;

/// <summary>Join tokens in etcd: hashes with their use counts, a use counted by a compare-and-swap on the token's key so racing replicas count each use once.</summary>
internal sealed partial class EtcdRegistryStore
{
    public event Action<JoinToken>? JoinTokenStored;

    public event Action<string>? JoinTokenDropped;

    public IReadOnlyList<JoinToken> LoadJoinTokens()
    {
        var read = RangeAsync("the join tokens", new RangeRequest { Key = EtcdKeys.Bytes(_keys.JoinTokens), RangeEnd = EtcdKeys.RangeEnd(_keys.JoinTokens) })
            .GetAwaiter().GetResult();
        var tokens = new List<JoinToken>(read.Kvs.Count);
        foreach (var kv in read.Kvs)
        {
            if (_keys.Parse(kv.Key.ToStringUtf8()) is { } parsed)
            {
                tokens.Add(ToJoinToken(parsed.Name, Parse(kv.Value, EtcdJsonContext.Default.EtcdJoinTokenValue)));
            }
        }

        return tokens;
    }

    public async Task AddJoinTokenAsync(JoinToken token, IReadOnlyCollection<string> expired)
    {
        var txn = new TxnRequest();
        txn.Success.Add(Put(_keys.JoinToken(token.Id), Json(ToValue(token))));
        foreach (var id in expired)
        {
            txn.Success.Add(Delete(_keys.JoinToken(id)));
        }

        await CommitAsync($"join token {token.Id}", txn).ConfigureAwait(false);
    }

    public async Task<bool> DeleteJoinTokenAsync(string id)
    {
        var request = new DeleteRangeRequest { Key = EtcdKeys.Bytes(_keys.JoinToken(id)) };
        var response = await _connection.CallAsync($"the revocation of join token {id}", o => _connection.Raw.KVClient.DeleteRangeAsync(request, o))
            .ConfigureAwait(false);
        return response.Deleted > 0;
    }

    public Task<int?> TryUseJoinTokenAsync(string id) => ChangeJoinTokenUsedAsync(id, +1);

    public Task<int?> GiveBackJoinTokenUseAsync(string id) => ChangeJoinTokenUsedAsync(id, -1);

    private async Task<int?> ChangeJoinTokenUsedAsync(string id, int delta)
    {
        var key = _keys.JoinToken(id);
        while (true)
        {
            var read = await RangeAsync($"join token {id}", new RangeRequest { Key = EtcdKeys.Bytes(key) }).ConfigureAwait(false);
            if (read.Kvs.Count == 0)
            {
                return null;
            }

            var value = Parse(read.Kvs[0].Value, EtcdJsonContext.Default.EtcdJoinTokenValue);
            var used = value.Used + delta;
            if (used < 0 || used > value.Uses)
            {
                return null;
            }

            var txn = new TxnRequest();
            txn.Compare.Add(ModRevisionIs(key, read.Kvs[0].ModRevision));
            txn.Success.Add(Put(key, Json(value with { Used = used })));
            if ((await CommitAsync($"a use of join token {id}", txn).ConfigureAwait(false)).Succeeded)
            {
                return used;
            }
        }
    }

    /// <summary>Under the mirror's lock: a join token's key as the watch delivered it.</summary>
    private void MirrorJoinToken(string id, KeyValue? kv)
    {
        if (kv is null)
        {
            JoinTokenDropped?.Invoke(id);
        }
        else
        {
            JoinTokenStored?.Invoke(ToJoinToken(id, Parse(kv.Value, EtcdJsonContext.Default.EtcdJoinTokenValue)));
        }
    }

    private static EtcdJoinTokenValue ToValue(JoinToken token) =>
        new(Convert.ToBase64String(token.Hash), token.Service, token.Version, token.CreatedAt, token.ExpiresAt, token.Uses, token.Used);

    private static JoinToken ToJoinToken(string id, EtcdJoinTokenValue v) =>
        new(id, Convert.FromBase64String(v.Hash), v.Service, v.Version, v.CreatedAt, v.ExpiresAt, v.Uses, v.Used);
}
