using System.Net.Http.Headers;
using Mesh.Client;

namespace Mesh.Registry.Cli;

/// <summary>
/// How the command line reaches the registry: the same rules and transport as workloads. An https registry is pinned
/// by <c>--ca-fingerprint</c> or <c>--ca-file</c> (never the machine's trust store), and plain http goes to loopback
/// addresses only unless <c>--allow-insecure</c>, since the admin token rides along.
/// </summary>
internal sealed record RegistryConnection(string? CaFingerprint, string? CaFile, bool AllowInsecure)
{
    public const string FingerprintVariable = "MESH_REGISTRY_CA_FINGERPRINT";
    public const string FileVariable = "MESH_REGISTRY_CA_FILE";

    /// <summary>What is wrong with reaching <paramref name="registry"/> this way, or null.</summary>
    public string? Check(Uri registry)
    {
        if (CaFingerprint is not null && !Client.Security.CaFingerprint.TryParse(CaFingerprint, out _))
        {
            return $"--ca-fingerprint: '{CaFingerprint}' must be 'sha256:' and 64 hex digits, as the registry prints it at start";
        }

        if (CaFile is not null && MeshRegistryHttp.ReadCaFile(CaFile, out var problem) is null)
        {
            return $"--ca-file: {problem}";
        }

        if (registry.Scheme == Uri.UriSchemeHttp && !AllowInsecure && !MeshRegistryHttp.IsLoopback(registry))
        {
            return $"--registry: '{registry}' is plain http to a host that is not a loopback address: the admin token would cross the network in the clear; " +
                "use https with --ca-fingerprint or --ca-file, or pass --allow-insecure";
        }

        if (registry.Scheme == Uri.UriSchemeHttps && CaFingerprint is null && CaFile is null)
        {
            return $"--registry: '{registry}' is https, so the registry's CA must be pinned: --ca-fingerprint (the 'sha256:...' the registry prints at start, " +
                $"or ${FingerprintVariable}) or --ca-file (its root certificate, or ${FileVariable})";
        }

        return null;
    }

    /// <summary>A client sending <paramref name="token"/>; over https through a handler that trusts the pinned CA only.</summary>
    public HttpClient CreateClient(Uri registry, string token, HttpMessageHandler? handler)
    {
        HttpClient http;
        if (handler is not null)
        {
            http = new HttpClient(handler, disposeHandler: false);
        }
        else if (registry.Scheme == Uri.UriSchemeHttps)
        {
            http = new HttpClient(MeshRegistryHttp.CreateHandler(new MeshRegistryOptions { Url = registry, CaFingerprint = CaFingerprint, CaFile = CaFile }));
        }
        else
        {
            http = new HttpClient();
        }

        http.BaseAddress = registry;
        http.Timeout = TimeSpan.FromSeconds(30);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }
}
