using System.Security.Cryptography;
using Mesh.Client.Registry;
using Mesh.Registry.Ca;
using Mesh.Registry.Store;

namespace Mesh.Registry;

/// <summary>
/// The join tokens made through the API, in memory and in the registry's store (so they survive a restart).
/// Lookups read an immutable map without a lock (they come with every heartbeat); changes, rare, are written to the
/// store and then copy the map, one at a time. A use is one certificate signed with the token, counted by the store
/// atomically; registering, renewing and reading are not uses.
/// </summary>
internal sealed partial class JoinTokenStore : IDisposable
{
    /// <summary>Expired tokens stay listed this long (an operator sees why a workload was refused), then go.</summary>
    private static readonly TimeSpan KeepExpired = TimeSpan.FromDays(1);

    private readonly SemaphoreSlim _writes = new(1, 1);
    private readonly IRegistryStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<JoinTokenStore> _logger;
    private volatile Dictionary<RegistryAuth.HashKey, JoinToken> _byHash;

    public JoinTokenStore(IRegistryStore store, TimeProvider time, ILogger<JoinTokenStore> logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
        var map = new Dictionary<RegistryAuth.HashKey, JoinToken>();
        foreach (var token in _store.LoadJoinTokens())
        {
            map[RegistryAuth.HashKey.Of(token.Hash)] = token;
        }

        _byHash = map;
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
            var stale = new List<string>();
            var map = new Dictionary<RegistryAuth.HashKey, JoinToken>(_byHash.Count + 1);
            foreach (var (key, existing) in _byHash)
            {
                if (existing.ExpiresAt + KeepExpired <= now)
                {
                    stale.Add(existing.Id);
                }
                else
                {
                    map[key] = existing;
                }
            }

            await _store.AddJoinTokenAsync(token, stale);
            map[RegistryAuth.HashKey.Of(token.Hash)] = token;
            _byHash = map;
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
            var map = new Dictionary<RegistryAuth.HashKey, JoinToken>(_byHash);
            foreach (var (key, token) in map)
            {
                if (token.Id == id)
                {
                    map.Remove(key);
                    await _store.DeleteJoinTokenAsync(id);
                    _byHash = map;
                    LogRevoked(_logger, id, token.Service);
                    return true;
                }
            }

            return false;
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

    public void Dispose() => _writes.Dispose();

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
