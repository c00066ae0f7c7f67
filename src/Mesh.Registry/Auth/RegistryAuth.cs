using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Mesh.Registry.Ca;
using Mesh.Registry.Store;
using Microsoft.Extensions.Options;

namespace Mesh.Registry;

/// <summary>
/// Bearer tokens. Only SHA-256 hashes are kept. A presented token is hashed; the hash is compared with the admin
/// token's in constant time, and looked up among the join tokens' hashes, the entry found being confirmed in constant
/// time too. Tokens are never logged.
/// </summary>
/// <remarks>
/// A join token is found by a dictionary lookup on its hash, not by comparing the presented hash with every known hash
/// with <see cref="CryptographicOperations.FixedTimeEquals"/>: that is O(services) per request, and with hundreds of
/// services a large share of the registry's CPU under heartbeat load (the registry load benchmark). The lookup is
/// as safe: what its timing could reveal is something about the stored hashes (whether one shares hash-code bits or a
/// prefix with the presented hash), and nothing that brings an attacker closer to a token, since turning bits of a
/// SHA-256 back into a token is a preimage attack. The tokens are high-entropy secrets, not passwords.
/// </remarks>
internal sealed partial class RegistryAuth
{
    /// <summary>
    /// The shortest configured token taken without a warning: 32 characters of a random alphabet hold more than 128
    /// bits, what the limit of failed attempts per address (<see cref="AuthFailureLimiter"/>) assumes against guessing.
    /// </summary>
    internal const int ShortTokenLength = 32;

    private static readonly RegistryCaller Admin = new(true, null);
    private readonly byte[] _admin;
    private readonly Dictionary<HashKey, (byte[] Hash, RegistryCaller Caller)> _join;

    private readonly JoinTokenStore _joinTokens;
    private readonly AuthFailureLimiter _failures;

    public RegistryAuth(IRegistryStore store, IOptions<RegistryOptions> options, JoinTokenStore joinTokens, AuthFailureLimiter failures,
        ILogger<RegistryAuth> logger)
    {
        WarnOfShortTokens(options.Value, logger);
        _joinTokens = joinTokens;
        _failures = failures;
        _admin = store.AdminTokenHash;
        _join = [];
        foreach (var (service, token) in options.Value.JoinTokens)
        {
            if (!string.IsNullOrEmpty(token))
            {
                // Options validation refuses two services sharing one token, so every hash is one service's.
                var hash = Hash(token);
                _join[HashKey.Of(hash)] = (hash, new RegistryCaller(false, RegistryNames.Service(service)));
            }
        }
    }

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>
    /// Configured tokens are taken as the operator wrote them; a short one is named (never shown) at start, since the
    /// store keeps only its unsalted hash and a guess at it is cheap.
    /// </summary>
    private static void WarnOfShortTokens(RegistryOptions options, ILogger logger)
    {
        if (options.AdminToken is { Length: > 0 and < ShortTokenLength } admin)
        {
            LogShortToken(logger, $"{RegistryOptions.SectionName}:AdminToken", admin.Length);
        }

        foreach (var (service, token) in options.JoinTokens)
        {
            if (token is { Length: > 0 and < ShortTokenLength })
            {
                LogShortToken(logger, $"{RegistryOptions.SectionName}:JoinTokens:{service}", token.Length);
            }
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "{Setting} is {Length} characters long; use a random token of at least 32 (e.g. openssl rand -base64 32): a short one can be guessed")]
    private static partial void LogShortToken(ILogger logger, string setting, int length);

    /// <summary>
    /// The caller, or null with <paramref name="presented"/> telling a missing token from a wrong one. A presented
    /// token that matches nothing counts against the caller's address (see <see cref="AuthFailureLimiter"/>).
    /// </summary>
    public RegistryCaller? Authenticate(HttpRequest request, out bool presented)
    {
        var caller = Authenticate(request, out presented, out var known);
        if (caller is null && presented && !known)
        {
            _failures.RecordFailure(request.HttpContext.Connection.RemoteIpAddress);
        }

        return caller;
    }

    private RegistryCaller? Authenticate(HttpRequest request, out bool presented, out bool known)
    {
        known = false;
        presented = false;
        var header = request.Headers.Authorization;
        if (header.Count == 0 && request.HttpContext.Connection.ClientCertificate is not null)
        {
            // Without a token, a workload's mesh certificate (mTLS to the registry) speaks for its service.
            presented = true;
            return request.HttpContext.RequestServices.GetRequiredService<RegistryCertificateAuth>().Authenticate(request.HttpContext);
        }

        if (header.Count != 1 || header[0] is not { } value)
        {
            presented = header.Count > 1;
            return null;
        }

        const string scheme = "Bearer ";
        if (!value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            presented = true;
            return null;
        }

        presented = true;
        return FindCaller(value.AsSpan(scheme.Length).Trim(), out known);
    }

    /// <summary>
    /// The caller a token presented outside the <c>Authorization</c> header speaks for (Consul's <c>X-Consul-Token</c>
    /// and <c>?token=</c>), or null; a token that matches nothing counts against the caller's address, as a bearer token's does.
    /// </summary>
    public RegistryCaller? AuthenticateToken(HttpRequest request, string token)
    {
        var caller = FindCaller(token.AsSpan().Trim(), out var known);
        if (caller is null && !known)
        {
            _failures.RecordFailure(request.HttpContext.Connection.RemoteIpAddress);
        }

        return caller;
    }

    private RegistryCaller? FindCaller(ReadOnlySpan<char> token, out bool known)
    {
        known = false;
        if (token.Length is 0 or > 4096)
        {
            return null;
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        HashToken(token, hash);
        if (CryptographicOperations.FixedTimeEquals(hash, _admin))
        {
            return Admin;
        }

        if (_join.TryGetValue(HashKey.Of(hash), out var join) && CryptographicOperations.FixedTimeEquals(hash, join.Hash))
        {
            return join.Caller;
        }

        // An expired token was made by the admin: the workload holding it is late, not guessing.
        var match = _joinTokens.Find(hash, out var made);
        known = match == JoinTokenMatch.Expired;
        return match == JoinTokenMatch.Valid ? made!.Caller : null;
    }

    private static void HashToken(ReadOnlySpan<char> token, Span<byte> hash)
    {
        // At most 4096 characters, so at most 12 KiB of UTF-8: on the stack.
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(token.Length)];
        var length = Encoding.UTF8.GetBytes(token, utf8);
        SHA256.HashData(utf8[..length], hash);
    }

    /// <summary>A SHA-256 as a dictionary key (its 32 bytes as four integers).</summary>
    internal readonly record struct HashKey(ulong A, ulong B, ulong C, ulong D)
    {
        public static HashKey Of(ReadOnlySpan<byte> hash) => new(
            BinaryPrimitives.ReadUInt64LittleEndian(hash),
            BinaryPrimitives.ReadUInt64LittleEndian(hash[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(hash[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(hash[24..]));
    }
}
