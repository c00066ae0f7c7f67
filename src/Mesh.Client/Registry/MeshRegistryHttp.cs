using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Internal;
using Mesh.Client.Registry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Mesh.Client;

/// <summary>
/// Reaching the registry the way workloads do, for tools that call its HTTP API themselves (the policy command line, an
/// operator's script): an <c>https://</c> registry is trusted only through the pinned CA
/// (<see cref="MeshRegistryOptions.CaFingerprint"/> or <see cref="MeshRegistryOptions.CaFile"/>, never the machine's
/// trust store), and plain <c>http://</c> is meant for loopback addresses only.
/// </summary>
public static class MeshRegistryHttp
{
    /// <summary>
    /// A handler for calls to <paramref name="registry"/>'s <see cref="MeshRegistryOptions.Url"/> (or one of its
    /// <see cref="MeshRegistryOptions.Urls"/>, as the request's address says: the handler does not choose) that accepts the
    /// registry only with a certificate from the pinned CA naming the registry of <paramref name="trustDomain"/>
    /// (<see cref="MeshSecurityOptions.TrustDomain"/>'s default when null), and sends
    /// <see cref="MeshRegistryOptions.Token"/>, when set, as the bearer token. Disposing the handler (or the
    /// <see cref="HttpClient"/> that owns it) releases its connections.
    /// </summary>
    public static HttpMessageHandler CreateHandler(MeshRegistryOptions registry, string? trustDomain = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var options = new MeshOptions { Registry = registry };
        if (trustDomain is not null)
        {
            options.Security.TrustDomain = trustDomain;
        }

        var transport = new RegistryTransport(Options.Create(options), timeProvider ?? TimeProvider.System, RandomSource.Shared, NullLogger<RegistryTransport>.Instance);
        return new OwnedRegistryHandler(transport);
    }

    /// <summary>Whether <paramref name="url"/> is 127.0.0.0/8, ::1 or <c>localhost</c>: traffic that never leaves the machine.</summary>
    public static bool IsLoopback(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return RegistryTransportValidator.IsLoopback(url);
    }

    /// <summary>The certificates of a CA file in PEM, as <see cref="MeshRegistryOptions.CaFile"/> reads it; null with what is wrong with it.</summary>
    public static X509Certificate2Collection? ReadCaFile(string path, out string problem)
    {
        ArgumentNullException.ThrowIfNull(path);
        return RegistryTransportValidator.ReadRoots(path, out problem);
    }
}
