using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Configuration;

namespace Mesh.Client.Security;

/// <summary>
/// Mesh identities: <c>spiffe://&lt;trust domain&gt;/svc/&lt;service&gt;</c>, carried as the one URI in a certificate's
/// subject alternative name. Service names are compared in lower case, as the registry keeps them.
/// </summary>
public static class SpiffeId
{
    /// <summary>The subject-alternative-name extension, where a mesh certificate carries its one SPIFFE ID.</summary>
    public const string SubjectAlternativeNameOid = "2.5.29.17";

    private const string Prefix = "spiffe://";
    private const string ServicePath = "/svc/";

    /// <summary>A service's SPIFFE ID, in lower case: <c>spiffe://&lt;trust domain&gt;/svc/&lt;service&gt;</c>.</summary>
    public static string For(string trustDomain, string service) =>
        string.Concat(Prefix, trustDomain.ToLowerInvariant(), ServicePath, service.ToLowerInvariant());

    /// <summary>The registry's own identity, outside <c>/svc/</c> so no workload certificate can carry it.</summary>
    public static string ForRegistry(string trustDomain) => string.Concat(Prefix, trustDomain.ToLowerInvariant(), "/registry");

    /// <summary>Parses a mesh SPIFFE ID; false for anything else (other paths, query, port, user info, bad names).</summary>
    public static bool TryParse(string? id, out string trustDomain, out string service)
    {
        trustDomain = string.Empty;
        service = string.Empty;
        if (id is null || id.Length > 2048 || !id.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = id.AsSpan(Prefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0)
        {
            return false;
        }

        var domain = rest[..slash].ToString();
        var path = rest[slash..];
        if (Uri.CheckHostName(domain) != UriHostNameType.Dns || !path.StartsWith(ServicePath, StringComparison.Ordinal))
        {
            return false;
        }

        var name = path[ServicePath.Length..].ToString();
        if (!PolicyValidator.IsValidName(name))
        {
            return false;
        }

        trustDomain = domain.ToLowerInvariant();
        service = name.ToLowerInvariant();
        return true;
    }

    /// <summary>The URIs of a subject-alternative-name extension; a malformed extension throws <see cref="CryptographicException"/>.</summary>
    public static IReadOnlyList<string> UrisOf(X509Extension extension)
    {
        var uris = new List<string>();
        try
        {
            var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER);
            var names = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
            while (names.HasData)
            {
                if (names.PeekTag().HasSameClassAndValue(uriTag))
                {
                    uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, uriTag));
                }
                else
                {
                    names.ReadEncodedValue();
                }
            }
        }
        catch (AsnContentException ex)
        {
            throw new CryptographicException("The subject alternative name is malformed.", ex);
        }

        return uris;
    }

    /// <summary>The URIs in a certificate's subject alternative names.</summary>
    public static IReadOnlyList<string> UrisOf(X509Certificate2 certificate)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value == SubjectAlternativeNameOid)
            {
                return UrisOf(extension);
            }
        }

        return [];
    }

    /// <summary>The service a mesh certificate names: exactly one URI SAN, a SPIFFE ID in <paramref name="trustDomain"/>.</summary>
    public static string? ServiceOf(X509Certificate2 certificate, string trustDomain)
    {
        IReadOnlyList<string> uris;
        try
        {
            uris = UrisOf(certificate);
        }
        catch (CryptographicException)
        {
            return null;
        }

        return uris.Count == 1 && TryParse(uris[0], out var domain, out var service) &&
               string.Equals(domain, trustDomain, StringComparison.OrdinalIgnoreCase)
            ? service
            : null;
    }
}
