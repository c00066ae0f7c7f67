using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client;
using Mesh.Client.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Mesh.Testing;

/// <summary>
/// An in-process mesh CA for tests and benchmarks: an ECDSA P-256 root that issues workload certificates shaped like
/// the registry's (SAN URI <c>spiffe://&lt;trust domain&gt;/svc/&lt;service&gt;</c>, client and server auth), including
/// expired ones. <see cref="TestCertificateAuthorityExtensions.AddTestCertificateAuthority"/> gives a meshed host its
/// identity from it instead of the registry; <see cref="CreateDirectHandler"/> is a plain handler with the same mTLS
/// settings, for comparing the mesh with a direct client.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly X509Certificate2 _root;
    private readonly List<X509Certificate2> _trusted;

    public TestCertificateAuthority(string trustDomain = "mesh.local", string name = "test")
    {
        TrustDomain = trustDomain;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=MeshLib {name} root {Guid.NewGuid():N}, O={trustDomain}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        _root = request.CreateSelfSigned(now.AddDays(-30), now.AddYears(10));
        Root = X509CertificateLoader.LoadCertificate(_root.RawData);
        _trusted = [Root];
    }

    public string TrustDomain { get; }

    /// <summary>The root certificate, without its key.</summary>
    public X509Certificate2 Root { get; }

    /// <summary>The roots workloads of this CA trust: its own, plus any added with <see cref="Trust"/>.</summary>
    public X509Certificate2Collection TrustBundle
    {
        get
        {
            lock (_trusted)
            {
                return [.. _trusted];
            }
        }
    }

    /// <summary>Also trust another CA's root (a root rotation's overlap). Identities pick it up when they renew.</summary>
    public void Trust(TestCertificateAuthority other)
    {
        lock (_trusted)
        {
            _trusted.Add(other.Root);
        }
    }

    /// <summary>A workload certificate with its private key; by default valid from a minute ago for a day.</summary>
    public X509Certificate2 IssueWorkload(string service, TimeSpan? lifetime = null, DateTimeOffset? notBefore = null) =>
        IssueWorkload(service, lifetime, notBefore, version: null);

    /// <summary>As the registry's CA issues it: with <paramref name="version"/> in the subject's <c>OU</c> when not null.</summary>
    public X509Certificate2 IssueWorkload(string service, TimeSpan? lifetime, DateTimeOffset? notBefore, string? version)
    {
        var from = notBefore ?? DateTimeOffset.UtcNow;
        var start = notBefore ?? from.AddMinutes(-1); // a little early, as the registry's CA does
        var end = from + (lifetime ?? TimeSpan.FromDays(1));
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(WorkloadVersion.Subject(service, version, TrustDomain), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(SpiffeId.For(TrustDomain, service)));
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_root, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        using var issuerKey = _root.GetECDsaPrivateKey()!;
        using var certificate = request.Create(_root.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), start, end, serial);
        return certificate.CopyWithPrivateKey(key);
    }

    /// <summary>A workload certificate that expired an hour ago.</summary>
    public X509Certificate2 IssueExpired(string service) =>
        IssueWorkload(service, TimeSpan.FromHours(1), DateTimeOffset.UtcNow.AddHours(-2));

    /// <summary>An identity for DI, issued from this CA; <see cref="TestWorkloadIdentity.Renew"/> issues a fresh certificate.</summary>
    public TestWorkloadIdentity CreateIdentity(string service, TimeSpan? lifetime = null) => new(this, service, lifetime, null);

    /// <summary>As <see cref="CreateIdentity(string, TimeSpan?)"/>, with certificates that carry <paramref name="version"/>.</summary>
    public TestWorkloadIdentity CreateIdentity(string service, TimeSpan? lifetime, string? version) => new(this, service, lifetime, version);

    /// <summary>
    /// A plain <see cref="SocketsHttpHandler"/> with the mesh's mTLS settings: presents <paramref name="certificate"/>
    /// and accepts only a server whose certificate chains to this CA's trust bundle and names
    /// <paramref name="expectedService"/> (no host name check: the server is an address).
    /// </summary>
    public SocketsHttpHandler CreateDirectHandler(X509Certificate2 certificate, string expectedService, int maxConnectionsPerServer = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(expectedService);
        return new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            MaxConnectionsPerServer = maxConnectionsPerServer,
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [certificate],
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, server, _, _) =>
                {
                    if (server is null)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    chain.ChainPolicy.CustomTrustStore.AddRange(TrustBundle);
                    var peer = server as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(server.GetRawCertData());
                    return chain.Build(peer) && string.Equals(SpiffeId.ServiceOf(peer, TrustDomain), expectedService, StringComparison.OrdinalIgnoreCase);
                },
            },
        };
    }

    /// <summary>A handler that presents <paramref name="certificate"/> (or none) and accepts any server: for testing what a server refuses.</summary>
    public static SocketsHttpHandler CreateUncheckedHandler(X509Certificate2? certificate) => new()
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            ClientCertificates = certificate is null ? null : [certificate],
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
#pragma warning disable CA5359 // on purpose: these tests are about what the server refuses
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
        },
    };

    public void Dispose()
    {
        _root.Dispose();
        Root.Dispose();
    }
}

/// <summary>A workload identity from a <see cref="TestCertificateAuthority"/>; tests renew or replace its certificate at will.</summary>
public sealed class TestWorkloadIdentity : IWorkloadIdentity
{
    private readonly TestCertificateAuthority _ca;
    private readonly TimeSpan? _lifetime;
    private volatile WorkloadCredentials? _current;

    internal TestWorkloadIdentity(TestCertificateAuthority ca, string service, TimeSpan? lifetime, string? version)
    {
        _ca = ca;
        Service = service;
        Version = version;
        _lifetime = lifetime;
        Renew();
    }

    public string Service { get; }

    /// <summary>The version its certificates carry; null for none.</summary>
    public string? Version { get; }

    public X509Certificate2 Certificate => _current!.Certificate;

    WorkloadCredentials? IWorkloadIdentity.Current => _current;

    Task IWorkloadIdentity.StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>A fresh certificate from the CA, with its current trust bundle. New connections use it from now on.</summary>
    public void Renew() => Use(_ca.IssueWorkload(Service, _lifetime, null, Version));

    /// <summary>Presents <paramref name="certificate"/> from now on (e.g. one from another CA), trusting this CA's bundle.</summary>
    public void Use(X509Certificate2 certificate) =>
        _current = new WorkloadCredentials(certificate, [], _ca.TrustBundle, _ca.TrustDomain, Service);
}

public static class TestCertificateAuthorityExtensions
{
    /// <summary>
    /// Gives the mesh of this host its identity from <paramref name="ca"/> instead of the registry: a certificate for
    /// <paramref name="service"/> (by default <c>Mesh:Service:Name</c>) carrying <c>Mesh:Service:Version</c>, as the
    /// registry's CA issues it for a configured join token. Call with <c>AddMesh()</c> or <c>AddMeshClient()</c>.
    /// </summary>
    public static IServiceCollection AddTestCertificateAuthority(this IServiceCollection services, TestCertificateAuthority ca, string? service = null,
        TimeSpan? lifetime = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(ca);
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<MeshOptions>>().Value;
            var name = service ?? options.Service.Name
                ?? throw new InvalidOperationException("AddTestCertificateAuthority needs a service name: pass one, or set Mesh:Service:Name.");
            return ca.CreateIdentity(name, lifetime, options.Service.Version);
        });
        services.TryAddSingleton<IWorkloadIdentity>(sp => sp.GetRequiredService<TestWorkloadIdentity>());
        return services;
    }
}
