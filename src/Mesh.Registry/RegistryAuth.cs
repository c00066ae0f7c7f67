using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Mesh.Registry;

/// <summary>Who is calling: the admin, or a workload holding one service's join token.</summary>
internal sealed record RegistryCaller(bool IsAdmin, string? Service)
{
    /// <summary>Whether the caller may register, renew and deregister instances of <paramref name="service"/>.</summary>
    public bool MayRegister(string service) => IsAdmin || string.Equals(Service, service, StringComparison.Ordinal);
}

/// <summary>
/// Bearer tokens. Only SHA-256 hashes are kept; a presented token is hashed and compared with every known hash in
/// constant time. Tokens are never logged.
/// </summary>
internal sealed class RegistryAuth
{
    private readonly byte[] _admin;
    private readonly (byte[] Hash, string Service)[] _join;

    public RegistryAuth(RegistryState state, IOptions<RegistryOptions> options)
    {
        _admin = state.AdminTokenHash;
        _join = [.. options.Value.JoinTokens
            .Where(kv => !string.IsNullOrEmpty(kv.Value))
            .Select(kv => (Hash(kv.Value), RegistryNames.Service(kv.Key)))];
    }

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>The caller, or null with <paramref name="presented"/> telling a missing token from a wrong one.</summary>
    public RegistryCaller? Authenticate(HttpRequest request, out bool presented)
    {
        presented = false;
        var header = request.Headers.Authorization;
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

        var token = value[scheme.Length..].Trim();
        presented = true;
        if (token.Length is 0 or > 4096)
        {
            return null;
        }

        var hash = Hash(token);

        // Compare with every hash, not stopping at a match, so the time taken says nothing about which one matched.
        var admin = CryptographicOperations.FixedTimeEquals(hash, _admin);
        string? service = null;
        foreach (var (joinHash, joinService) in _join)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, joinHash))
            {
                service = joinService;
            }
        }

        return admin ? new RegistryCaller(true, null) : service is not null ? new RegistryCaller(false, service) : null;
    }
}

internal static class RegistryNames
{
    /// <summary>Service names are case-insensitive, like the host names clients call them by, and kept in lower case.</summary>
    public static string Service(string name)
    {
        // Valid names are ASCII; lower-casing them is culture-free.
        return string.Create(name.Length, name, static (span, n) =>
        {
            for (var i = 0; i < n.Length; i++)
            {
                span[i] = char.IsAsciiLetterUpper(n[i]) ? (char)(n[i] | 0x20) : n[i];
            }
        });
    }
}
