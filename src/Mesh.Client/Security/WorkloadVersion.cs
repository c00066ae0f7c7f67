using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Configuration;

namespace Mesh.Client.Security;

/// <summary>
/// A workload's version (<c>Mesh:Service:Version</c>) as its certificate carries it: the one organizational unit
/// (<c>OU</c>) of the subject, a name by the same rule as service names. The SPIFFE ID stays the only URI SAN, as SPIFFE
/// requires, so the version lives in the subject. The registry's CA writes it only where the caller's authority allows
/// it, so a peer's version is as trustworthy as its service.
/// </summary>
public static class WorkloadVersion
{
    /// <summary>id-at-organizationalUnitName.</summary>
    public const string OrganizationalUnitOid = "2.5.4.11";

    /// <summary>The subject of a workload CSR or certificate: <c>CN=service</c>, <c>OU=version</c> when there is one.</summary>
    public static X500DistinguishedName Subject(string service, string? version, string? organization = null)
    {
        var builder = new X500DistinguishedNameBuilder();
        if (organization is not null)
        {
            builder.AddOrganizationName(organization);
        }

        if (version is not null)
        {
            builder.AddOrganizationalUnitName(version);
        }

        builder.AddCommonName(service);
        return builder.Build();
    }

    /// <summary>The version a certificate proves; null when it carries none, or anything but one valid version.</summary>
    public static string? Of(X509Certificate2 certificate) =>
        TryRead(certificate.SubjectName, out var version) ? version : null;

    /// <summary>
    /// Reads the version from a subject: true with null when there is no <c>OU</c>, true with the version when there is
    /// exactly one valid one, false when there are several, or one that is not a valid name.
    /// </summary>
    public static bool TryRead(X500DistinguishedName subject, out string? version)
    {
        version = null;
        try
        {
            foreach (var rdn in subject.EnumerateRelativeDistinguishedNames())
            {
                if (rdn.HasMultipleElements)
                {
                    continue;
                }

                if (rdn.GetSingleElementType().Value != OrganizationalUnitOid)
                {
                    continue;
                }

                if (version is not null || rdn.GetSingleElementValue() is not { } value || !PolicyValidator.IsValidName(value))
                {
                    version = null;
                    return false;
                }

                version = value;
            }
        }
        catch (CryptographicException)
        {
            version = null;
            return false;
        }

        return true;
    }
}
