using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Mesh.Client.Security;

/// <summary>
/// A CA certificate's pin: <c>sha256:</c> and the SHA-256 of its DER encoding in hex, the form the registry prints at
/// start and <c>Mesh:Registry:CaFingerprint</c> takes (the same value as <c>openssl x509 -fingerprint -sha256</c> without the colons).
/// </summary>
public static class CaFingerprint
{
    /// <summary>The only hash a pin may name.</summary>
    public const string Prefix = "sha256:";

    /// <summary>The pin of <paramref name="certificate"/>, as the registry prints it.</summary>
    public static string Of(X509Certificate2 certificate) => Prefix + Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    /// <summary>The 32 bytes of a <c>sha256:&lt;64 hex digits&gt;</c> pin (hex in either case); false for anything else.</summary>
    public static bool TryParse(string? value, out byte[] hash)
    {
        hash = [];
        var text = value?.Trim();
        if (text is null || !text.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) || text.Length != Prefix.Length + 64)
        {
            return false;
        }

        var hex = text.AsSpan(Prefix.Length);
        foreach (var c in hex)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        hash = Convert.FromHexString(hex);
        return true;
    }

    /// <summary>Whether <paramref name="certificate"/> is the one a parsed pin names.</summary>
    public static bool Matches(X509Certificate2 certificate, ReadOnlySpan<byte> hash)
    {
        Span<byte> actual = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(certificate.RawData, actual);
        return actual.SequenceEqual(hash);
    }
}
