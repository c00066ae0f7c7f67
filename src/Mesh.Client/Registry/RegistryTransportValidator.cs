using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Security;

namespace Mesh.Client.Registry;

/// <summary>
/// The rules for reaching the registry safely, checked at start with every error's path: an https URL must be pinned
/// (the machine's trust store is not consulted: the registry's certificate comes from the mesh's own CA), and plain
/// http is for loopback addresses unless <c>AllowInsecure</c> says otherwise.
/// </summary>
internal static class RegistryTransportValidator
{
    public static void Validate(MeshRegistryOptions registry, string root, List<string> errors)
    {
        var path = $"{root}:Registry";
        if (registry.CaFingerprint is { } fingerprint && !CaFingerprint.TryParse(fingerprint, out _))
        {
            errors.Add($"{path}:CaFingerprint: '{Truncate(fingerprint)}' must be 'sha256:' and 64 hex digits, as the registry prints it at start");
        }

        if (registry.CaFile is { } file)
        {
            if (string.IsNullOrWhiteSpace(file))
            {
                errors.Add($"{path}:CaFile: must not be blank");
            }
            else if (ReadRoots(file, out var problem) is null)
            {
                errors.Add($"{path}:CaFile: {problem}");
            }
        }

        if (registry.Url is { IsAbsoluteUri: true } url)
        {
            ValidateUrl(registry, url, $"{path}:Url", path, errors);
        }

        var replicas = registry.Urls ?? [];
        for (var i = 0; i < replicas.Count; i++)
        {
            if (replicas[i] is { IsAbsoluteUri: true } replica)
            {
                ValidateUrl(registry, replica, $"{path}:Urls:{i}", path, errors);
            }
        }
    }

    private static void ValidateUrl(MeshRegistryOptions registry, Uri url, string key, string path, List<string> errors)
    {
        if (url.Scheme == Uri.UriSchemeHttp && !registry.AllowInsecure && !IsLoopback(url))
        {
            errors.Add($"{key}: '{url}' is plain http to a host that is not a loopback address: join tokens and certificates would cross the network in the clear. " +
                $"Use https with {path}:CaFingerprint or {path}:CaFile, or set {path}:AllowInsecure to true on an isolated network");
        }

        if (url.Scheme == Uri.UriSchemeHttps && registry.CaFingerprint is null && registry.CaFile is null)
        {
            errors.Add($"{key}: '{url}' is https, so the registry's CA must be pinned: set {path}:CaFingerprint (the 'sha256:...' the registry prints at start) " +
                $"or {path}:CaFile (its root certificate)");
        }
    }

    /// <summary>127.0.0.0/8, ::1 and <c>localhost</c> (and names under it): traffic that never leaves the machine.</summary>
    public static bool IsLoopback(Uri url)
    {
        var host = url.IdnHost;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);
    }

    /// <summary>The certificates of a PEM file, or null with what is wrong with it.</summary>
    public static X509Certificate2Collection? ReadRoots(string file, out string problem)
    {
        problem = string.Empty;
        var full = file;
        try
        {
            full = Path.GetFullPath(file);
            var roots = new X509Certificate2Collection();
            roots.ImportFromPem(File.ReadAllText(full));
            if (roots.Count == 0)
            {
                problem = $"{full} holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
                return null;
            }

            return roots;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException or NotSupportedException)
        {
            problem = $"cannot read {full}: {ex.Message}";
            return null;
        }
    }

    private static string Truncate(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 80), "…");
}
