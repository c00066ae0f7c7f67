namespace Mesh.Client.Security;

/// <summary>Checks <c>Mesh:Security</c>: a known mode and a DNS trust domain.</summary>
internal static class MeshSecurityOptionsValidator
{
    public static void Validate(MeshSecurityOptions security, string path, List<string> errors)
    {
        if (!Enum.IsDefined(security.Mode))
        {
            errors.Add($"{path}:Mode: '{security.Mode}' is not one of {string.Join(", ", Enum.GetNames<MeshSecurityMode>())}");
        }

        if (string.IsNullOrWhiteSpace(security.TrustDomain) || Uri.CheckHostName(security.TrustDomain) != UriHostNameType.Dns)
        {
            errors.Add($"{path}:TrustDomain: '{security.TrustDomain}' must be a DNS name such as mesh.local");
        }
    }
}
