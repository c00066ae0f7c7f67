using System.Security.Cryptography;
using Mesh.Client.Registry;
using Mesh.Registry.Ca;
using Mesh.Registry.Store;

namespace Mesh.Registry;

/// <summary>
/// The join tokens made through the API, in memory and in the registry's store (so they survive a restart).
/// Lookups read an immutable map without a lock (they come with every heartbeat); changes, rare, are written to the
/// store and then copy the map, one at a time. A store that replicas share tells each of them what the others made,
/// used and revoked, so a token works, and a revocation holds, at every replica. A use is one certificate signed with
/// the token, counted by the store atomically; registering, renewing and reading are not uses.
/// </summary>
internal sealed partial class JoinTokenStore : IDisposable
{
    /// <summary>Expired tokens stay listed this long (an operator sees why a workload was refused), then go.</summary>
    private static readonly TimeSpan KeepExpired = TimeSpan.FromDays(1);

    private readonly SemaphoreSlim _writes = new(1, 1);
    private readonly Lock _swap = new();
    private readonly IRegistryStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<JoinTokenStore> _logger;
    private volatile Dictionary<RegistryAuth.HashKey, JoinToken> _byHash;

    public JoinTokenStore(IRegistryStore store, TimeProvider time, ILogger<JoinTokenStore> logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
        _byHash = [];

        // Followed before the load, so no change made meanwhile is missed; what the load reads is kept only where
        // the store has not said something newer already.
        _store.JoinTokenStored += Stored;
        _store.JoinTokenDropped += Dropped;
        var loaded = _store.LoadJoinTokens();
        lock (_swap)
        {
            var map = new Dictionary<RegistryAuth.HashKey, JoinToken>(_byHash);
            foreach (var token in loaded)
            {
                map.TryAdd(RegistryAuth.HashKey.Of(token.Hash), token);
            }

            _byHash = map;
        }
    }

    /// <summary>The token whose SHA-256 is <paramref name="hash"/>, confirmed in constant time.</summary>
    public JoinTokenMatch Find(ReadOnlySpan<byte> hash, out JoinToken? token)
    {
        if (!_byHash.TryGetValue(RegistryAuth.HashKey.Of(hash), out token) || !CryptographicOperations.FixedTimeEquals(hash, token.Hash))
        {
            token = null;
            return JoinTokenMatch.None;
        }

        return token.IsExpired(_time.GetUtcNow()) ? JoinTokenMatch.Expired : JoinTokenMatch.Valid;
    }

    /// <summary>Makes a token; the secret is in the answer only.</summary>
    public async Task<(JoinToken Token, string Secret)> CreateAsync(string service, string? version, TimeSpan ttl, int uses)
    {
        var secret = "mesh-join-" + Base64Url(RandomNumberGenerator.GetBytes(32));
        var id = "jt-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var now = _time.GetUtcNow();
        var token = new JoinToken(id, RegistryAuth.Hash(secret), service, version, now, now + ttl, uses, 0);
        await _writes.WaitAsync();
        try
        {
            var stale = _byHash.Values.Where(t => t.ExpiresAt + KeepExpired <= now).Select(t => t.Id).ToList();
            await _store.AddJoinTokenAsync(token, stale);
            Swap(map =>
            {
                RemoveWhere(map, t => stale.Contains(t.Id));
                map[RegistryAuth.HashKey.Of(token.Hash)] = token;
            });
        }
        finally
        {
            _writes.Release();
        }

        LogCreated(_logger, id, service, version ?? "-", token.ExpiresAt, uses);
        return (token, secret);
    }

    /// <summary>The tokens, oldest first.</summary>
    public List<JoinToken> List()
    {
        var list = new List<JoinToken>(_byHash.Values);
        list.Sort(static (a, b) => a.CreatedAt != b.CreatedAt ? a.CreatedAt.CompareTo(b.CreatedAt) : string.CompareOrdinal(a.Id, b.Id));
        return list;
    }

    /// <summary>Revokes a token: it authenticates nothing from now on. False when there is no such token.</summary>
    public async Task<bool> RevokeAsync(string id)
    {
        await _writes.WaitAsync();
        try
        {
            if (FindById(id) is not { } token)
            {
                return false;
            }

            await _store.DeleteJoinTokenAsync(id);
            Swap(map => RemoveWhere(map, t => t.Id == id));
            LogRevoked(_logger, id, token.Service);
            return true;
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>
    /// Signs a CSR for <paramref name="caller"/>. A renewal by certificate keeps that certificate's version and uses no
    /// token. With a token made through the API, the signing is one of its uses (refused once they are spent, given back
    /// if the CA refuses the request) and the certificate's version is the token's when it names one; otherwise the
    /// CSR's version, as for configured tokens and the admin.
    /// </summary>
    public async Task<CertificateResponse> SignAsync(CertificateAuthority ca, RegistryCaller caller, string csr, string service)
    {
        if (caller.ByCertificate)
        {
            return ca.Sign(csr, service, caller.BoundVersion);
        }

        if (caller.JoinTokenId is not { } id)
        {
            return ca.Sign(csr, service);
        }

        await UseAsync(id);
        try
        {
            return caller.BoundVersion is { } version ? ca.Sign(csr, service, version) : ca.Sign(csr, service);
        }
        catch
        {
            await GiveBackAsync(id);
            throw;
        }
    }

    public void Dispose()
    {
        _store.JoinTokenStored -= Stored;
        _store.JoinTokenDropped -= Dropped;
        _writes.Dispose();
    }

    /// <summary>A token as the shared store now holds it: one another replica made, or a use counted anywhere.</summary>
    private void Stored(JoinToken token)
    {
        var key = RegistryAuth.HashKey.Of(token.Hash);
        lock (_swap)
        {
            if (_byHash.TryGetValue(key, out var known) && known.Id == token.Id)
            {
                known.Used = token.Used;
                return;
            }
        }

        Swap(map => map[key] = token);
    }

    /// <summary>A token the shared store dropped: revoked through another replica, or long expired.</summary>
    private void Dropped(string id) => Swap(map => RemoveWhere(map, t => t.Id == id));

    /// <summary>Changes a copy of the map and publishes it, one change at a time (API calls and the store's news race).</summary>
    private void Swap(Action<Dictionary<RegistryAuth.HashKey, JoinToken>> change)
    {
        lock (_swap)
        {
            var map = new Dictionary<RegistryAuth.HashKey, JoinToken>(_byHash);
            change(map);
            _byHash = map;
        }
    }

    private async Task UseAsync(string id)
    {
        await _writes.WaitAsync();
        try
        {
            var token = FindById(id);
            if (token is null || token.IsExpired(_time.GetUtcNow()))
            {
                throw new CertificateRequestException(StatusCodes.Status403Forbidden, "token", "This join token has expired or was revoked.");
            }

            // The store counts the use only while one is left, so the memory's count cannot hand out a use twice.
            if (token.Used >= token.Uses || await _store.TryUseJoinTokenAsync(id) is not { } used)
            {
                throw new CertificateRequestException(StatusCodes.Status403Forbidden, "token",
                    $"This join token's {token.Uses} use(s) are spent: it has got as many certificates as it was made for.");
            }

            token.Used = used;
        }
        finally
        {
            _writes.Release();
        }
    }

    private async Task GiveBackAsync(string id)
    {
        await _writes.WaitAsync();
        try
        {
            if (FindById(id) is { Used: > 0 } token && await _store.GiveBackJoinTokenUseAsync(id) is { } used)
            {
                token.Used = used;
            }
        }
        finally
        {
            _writes.Release();
        }
    }

    private static void RemoveWhere(Dictionary<RegistryAuth.HashKey, JoinToken> map, Func<JoinToken, bool> match)
    {
        foreach (var (key, token) in map)
        {
            if (match(token))
            {
                map.Remove(key);
            }
        }
    }

    private JoinToken? FindById(string id)
    {
        foreach (var token in _byHash.Values)
        {
            if (token.Id == id)
            {
                return token;
            }
        }

        return null;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [LoggerMessage(110, LogLevel.Information, "Join token {Id} made for {Service} version {Version}, valid until {ExpiresAt:O} for {Uses} certificate(s)")]
    private static partial void LogCreated(ILogger logger, string id, string service, string version, DateTimeOffset expiresAt, int uses);

    [LoggerMessage(111, LogLevel.Information, "Join token {Id} for {Service} revoked")]
    private static partial void LogRevoked(ILogger logger, string id, string service);
}
