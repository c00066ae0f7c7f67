using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client.Registry;
using Mesh.Client.Security;
using Mesh.Registry.Contracts;
using Mesh.Registry.Store;
using Mesh.Registry.Watches;
using Microsoft.Extensions.Options;

namespace Mesh.Registry.Ca;

/// <summary>
/// The mesh CA. Roots are ECDSA P-256, self-signed, made on the first start and kept in <c>MeshRegistry:CaPath</c>
/// (<see cref="CaFolder"/>): <c>&lt;id&gt;.crt.pem</c> and <c>&lt;id&gt;.key.pem</c> (mode 0600, in a 0700 folder) and
/// <c>ca.json</c> (which roots are trusted, which one signs, and the trust bundle's watch index). Several roots can be
/// trusted at once, which is how a root is rotated: add one (trusted by every workload once their bundles refresh),
/// activate it (new certificates come from it), and remove the old one when every workload has renewed. Replicas that
/// share the folder share the CA: every change is made under the folder's lock on the state the folder holds, and every
/// replica follows the folder (<c>CertificateAuthority.Sharing.cs</c>).
/// </summary>
internal sealed partial class CertificateAuthority : IDisposable
{
    /// <summary>Roots outlive every workload certificate by far; rotation is deliberate, not forced by expiry.</summary>
    private static readonly TimeSpan RootLifetime = TimeSpan.FromDays(3650);

    /// <summary>Issued certificates start a minute early, so a workload whose clock is a little behind accepts them.</summary>
    private static readonly TimeSpan Backdate = TimeSpan.FromMinutes(1);

    private const string CsrLabel = "CERTIFICATE REQUEST";

    private const string BasicConstraintsOid = "2.5.29.19";

    private readonly Lock _gate = new();
    private readonly RegistryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<CertificateAuthority> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CaFolder _folder;
    private List<CaRoot> _roots = [];
    private CaRoot _active = null!;
    private long _index;
    private TaskCompletionSource _changed = WatchSignal.New();

    public CertificateAuthority(IOptions<RegistryOptions> options, IRegistryStore store, TimeProvider time, ILogger<CertificateAuthority> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        TrustDomain = _options.TrustDomain.ToLowerInvariant();
        var path = _options.CaPath ?? Path.Combine(store.LocalDirectory ?? ".", "ca");
        if (!Path.IsPathRooted(path))
        {
            path = Path.Combine(store.LocalDirectory ?? ".", path);
        }

        Directory = Path.GetFullPath(path);
        _folder = new CaFolder(Directory, time);
        LoadOrCreate();
        StartFollowing();
    }

    public string Directory { get; }

    public string TrustDomain { get; }

    public TimeSpan Lifetime => _options.CertificateLifetime;

    public string ActiveRootId
    {
        get
        {
            lock (_gate)
            {
                return _active.Id;
            }
        }
    }

    /// <summary>The key file of a root (for tests that check its mode).</summary>
    public string KeyPath(string id) => _folder.KeyPath(id);

    /// <summary>
    /// Signs a CSR for <paramref name="service"/>, with the version the CSR's subject names (its one <c>OU</c>, see
    /// <see cref="WorkloadVersion"/>), or none: for callers whose authority names a service only (configured join
    /// tokens, the admin), whose version is what the workload says it is. The CSR's signature must verify (the
    /// requester holds the key); the certificate's names come from the caller's authority, never from the CSR, and a
    /// CSR asking for another identity is refused outright rather than silently corrected, so a confused or hostile
    /// workload is noticed.
    /// </summary>
    public CertificateResponse Sign(string csrPem, string service) => Sign(csrPem, service, null, versionBound: false);

    /// <summary>
    /// Signs a CSR for <paramref name="service"/> at exactly <paramref name="allowedVersion"/> (null: without a
    /// version): for callers whose authority names the version too (a join token made with one, or a renewal, which
    /// keeps the presented certificate's). A CSR naming another version is refused (403); one naming none gets
    /// <paramref name="allowedVersion"/>.
    /// </summary>
    public CertificateResponse Sign(string csrPem, string service, string? allowedVersion) => Sign(csrPem, service, allowedVersion, versionBound: true);

    private CertificateResponse Sign(string csrPem, string service, string? allowedVersion, bool versionBound)
    {
        var expected = SpiffeId.For(TrustDomain, service);
        CertificateRequest csr;
        try
        {
            if (!PemEncoding.TryFind(csrPem, out var fields) || csrPem[fields.Label] is not CsrLabel)
            {
                throw new CertificateRequestException(StatusCodes.Status400BadRequest, "csr", "expected one PEM block labelled CERTIFICATE REQUEST");
            }

            // The default load options verify the request's signature.
            csr = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256,
                CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        }
        catch (CryptographicException)
        {
            throw new CertificateRequestException(StatusCodes.Status400BadRequest, "csr", "not a valid PKCS#10 request, or its signature does not verify");
        }

        CheckKey(csr.PublicKey);
        if (!WorkloadVersion.TryRead(csr.SubjectName, out var requestedVersion))
        {
            throw new CertificateRequestException(StatusCodes.Status400BadRequest, "csr",
                "the subject's OU is the workload's version: at most one, a valid name (letters, digits, '-', '_' and '.', at most 63 characters)");
        }

        var version = requestedVersion;
        if (versionBound)
        {
            if (requestedVersion is not null && !string.Equals(requestedVersion, allowedVersion, StringComparison.Ordinal))
            {
                throw new CertificateRequestException(StatusCodes.Status403Forbidden, "csr", allowedVersion is null
                    ? $"the request asks for version '{requestedVersion}'; this caller may only get certificates without a version"
                    : $"the request asks for version '{requestedVersion}'; this caller may only get certificates for version '{allowedVersion}'");
            }

            version = allowedVersion;
        }

        foreach (var extension in csr.CertificateExtensions)
        {
            if (extension.Oid?.Value == BasicConstraintsOid)
            {
                RefuseCa(extension);
                continue;
            }

            if (extension.Oid?.Value != SpiffeId.SubjectAlternativeNameOid)
            {
                continue;
            }

            IReadOnlyList<string> uris;
            bool onlyUris;
            try
            {
                uris = SpiffeId.UrisOf(extension);
                onlyUris = HasOnlyUris(extension);
            }
            catch (CryptographicException)
            {
                throw new CertificateRequestException(StatusCodes.Status400BadRequest, "csr", "the subject alternative name extension is malformed");
            }

            if (!onlyUris)
            {
                throw new CertificateRequestException(StatusCodes.Status403Forbidden, "csr",
                    $"the request asks for names beside its SPIFFE ID (DNS names, addresses, e-mail); this caller may only get certificates for '{expected}'");
            }

            foreach (var uri in uris)
            {
                if (!string.Equals(uri, expected, StringComparison.OrdinalIgnoreCase))
                {
                    throw new CertificateRequestException(StatusCodes.Status403Forbidden, "csr",
                        $"the request asks for '{Truncate(uri)}'; this caller may only get certificates for '{expected}'");
                }
            }
        }

        CaRoot issuer;
        List<string> bundle;
        lock (_gate)
        {
            issuer = _active;
            bundle = _roots.ConvertAll(r => r.Pem);
        }

        var now = _time.GetUtcNow();
        var notAfter = now + _options.CertificateLifetime;
        if (notAfter > issuer.Certificate.NotAfter.ToUniversalTime())
        {
            notAfter = issuer.Certificate.NotAfter.ToUniversalTime();
        }

        var request = new CertificateRequest(WorkloadVersion.Subject(service, version, TrustDomain), csr.PublicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(expected));
        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Certificate, true, false));

        using var issuerKey = issuer.Certificate.GetECDsaPrivateKey()!;
        using var certificate = request.Create(issuer.Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), now - Backdate,
            notAfter, SerialNumber());
        LogSigned(_logger, expected, version ?? "-", certificate.SerialNumber, notAfter, issuer.Id);
        return new CertificateResponse
        {
            Certificate = certificate.ExportCertificatePem(),
            Chain = [],
            TrustBundle = bundle,
            SpiffeId = expected,
            NotAfter = notAfter,
        };
    }

    /// <summary>
    /// The trusted roots; with an <paramref name="index"/>, waits until they change or <paramref name="wait"/> passes,
    /// in a place of <paramref name="caller"/>'s (<see cref="TooManyWatchesException"/> when it has none left).
    /// </summary>
    public async Task<TrustBundleResponse> WatchTrustBundleAsync(long? index, TimeSpan wait, WatchCaller caller, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_gate)
        {
            if (index is not { } i || _index > i || i > _index || wait <= TimeSpan.Zero)
            {
                return Bundle();
            }

            changed = _changed.Task;
        }

        await ParkedWait.WaitAsync(changed, wait, caller, waiting: null, _time, _stopping.Token, cancellationToken);

        lock (_gate)
        {
            return Bundle();
        }
    }

    public CaRootsResponse ListRoots()
    {
        lock (_gate)
        {
            return new CaRootsResponse { Index = _index, Roots = _roots.ConvertAll(Record) };
        }
    }

    /// <summary>Makes a new root, trusted at once but not yet signing.</summary>
    public async Task<CaRootRecord> AddRootAsync()
    {
        using var held = await LockFolderAsync();
        ReadFolder();
        var root = CreateRoot();
        CaRoot active;
        lock (_gate)
        {
            active = _active;
        }

        Commit([.. Roots, root], active);
        LogRootAdded(_logger, root.Id);
        lock (_gate)
        {
            return Record(root);
        }
    }

    /// <summary>Makes a trusted root the one that signs. False when there is no such root.</summary>
    public async Task<bool> ActivateAsync(string id)
    {
        using var held = await LockFolderAsync();
        ReadFolder();
        var roots = Roots;
        var root = roots.Find(r => r.Id == id);
        if (root is null)
        {
            return false;
        }

        if (root.Id != ActiveRootId)
        {
            Commit(roots, root);
            LogRootActivated(_logger, id);
        }

        return true;
    }

    /// <summary>Stops trusting a root and deletes its key. Not the active root: activate another first.</summary>
    public async Task<(bool Found, bool IsActive)> RemoveAsync(string id)
    {
        using var held = await LockFolderAsync();
        ReadFolder();
        var roots = Roots;
        var root = roots.Find(r => r.Id == id);
        if (root is null)
        {
            return (false, false);
        }

        CaRoot active;
        lock (_gate)
        {
            active = _active;
        }

        if (root == active)
        {
            return (true, true);
        }

        // The state stops naming the root before its files go, so no replica reads a state whose files are gone.
        Commit(roots.Where(r => r != root).ToList(), active);
        _folder.DeleteRoot(id);

        // Not disposed: a signing that took this root as active just before an activate-and-remove may still use it.
        LogRootRemoved(_logger, id);
        return (true, false);
    }

    public void StopWatches() => _stopping.Cancel();

    public void Dispose()
    {
        _stopping.Cancel();
        StopFollowing();
        lock (_gate)
        {
            foreach (var root in _roots)
            {
                root.Dispose();
            }
        }
    }

    private List<CaRoot> Roots
    {
        get
        {
            lock (_gate)
            {
                return [.. _roots];
            }
        }
    }

    private TrustBundleResponse Bundle() => new() { Index = _index, TrustDomain = TrustDomain, Roots = _roots.ConvertAll(r => r.Pem) };

    private CaRootRecord Record(CaRoot root) => new()
    {
        Id = root.Id,
        Active = root == _active,
        Subject = root.Certificate.Subject,
        Sha256 = root.Certificate.GetCertHashString(HashAlgorithmName.SHA256),
        Fingerprint = CaFingerprint.Of(root.Certificate),
        NotBefore = root.Certificate.NotBefore.ToUniversalTime(),
        NotAfter = root.Certificate.NotAfter.ToUniversalTime(),
        Certificate = root.Pem,
    };

    /// <summary>Holding the folder's lock: writes the next state, then takes it in memory and wakes the trust bundle's watchers.</summary>
    private void Commit(List<CaRoot> roots, CaRoot active)
    {
        long index;
        lock (_gate)
        {
            index = _index + 1;
        }

        _folder.WriteState(new CaState { Index = index, Active = active.Id, Roots = roots.ConvertAll(r => r.Id) });
        Take(roots, active, index);
    }

    /// <summary>Takes a state in memory; wakes the trust bundle's watchers when it differs from the one held.</summary>
    private bool Take(List<CaRoot> roots, CaRoot active, long index)
    {
        lock (_gate)
        {
            if (index == _index && active == _active && roots.SequenceEqual(_roots))
            {
                return false;
            }

            _roots = roots;
            _active = active;
            _index = index;
            var signal = _changed;
            _changed = WatchSignal.New();
            signal.TrySetResult();
            return true;
        }
    }

    /// <summary>
    /// Holding the folder's lock: takes the state the folder holds (another replica may have changed it), reusing the
    /// roots already in memory (a root's files never change once written). False when the folder has no state yet.
    /// </summary>
    private bool ReadFolder()
    {
        if (_folder.ReadState() is not { } state)
        {
            return false;
        }

        var known = Roots;
        var roots = new List<CaRoot>(state.Roots.Count);
        foreach (var id in state.Roots)
        {
            roots.Add(known.Find(r => r.Id == id) ?? _folder.ReadRoot(id));
        }

        if (Take(roots, roots.Find(r => r.Id == state.Active)!, Math.Max(1, state.Index)))
        {
            LogLoaded(_logger, roots.Count, state.Active, Directory);
        }

        return true;
    }

    /// <summary>At start, holding the folder's lock: loads the CA, or makes it when this is the first replica to get here.</summary>
    private void LoadOrCreate()
    {
        _folder.Create();
        if (CaFolder.FileLockingDisabled)
        {
            LogFileLockingDisabled(_logger, Directory);
        }

        using var held = _folder.Lock(_options.CaLockTimeout, () => LogLockBusy(_logger, _folder.LockPath, _options.CaLockTimeout));
        if (ReadFolder())
        {
            return;
        }

        var root = CreateRoot();
        _folder.WriteState(new CaState { Index = 1, Active = root.Id, Roots = [root.Id] });
        Take([root], root, 1);
        LogRootCreated(_logger, root.Id, Directory);
    }

    private Task<CaFolderLock> LockFolderAsync() =>
        _folder.LockAsync(_options.CaLockTimeout, () => LogLockBusy(_logger, _folder.LockPath, _options.CaLockTimeout), CancellationToken.None);

    private CaRoot CreateRoot()
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        // The id in the subject keeps roots apart by name as well as by key identifier during a rotation.
        var request = new CertificateRequest(new X500DistinguishedName($"CN=MeshLib root {id}, O={TrustDomain}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = _time.GetUtcNow();
        using var created = request.CreateSelfSigned(now - Backdate, now + RootLifetime);
        var certificatePem = created.ExportCertificatePem();
        var keyPem = key.ExportPkcs8PrivateKeyPem();
        _folder.WriteRoot(id, certificatePem, keyPem);
        return new CaRoot(id, X509Certificate2.CreateFromPem(certificatePem, keyPem));
    }

    /// <summary>A CSR asking to be a CA is refused rather than signed as a leaf: the workload is confused or hostile.</summary>
    private static void RefuseCa(X509Extension extension)
    {
        var constraints = new X509BasicConstraintsExtension();
        try
        {
            constraints.CopyFrom(extension);
            _ = constraints.CertificateAuthority;
        }
        catch (CryptographicException)
        {
            throw new CertificateRequestException(StatusCodes.Status400BadRequest, "csr", "the basic constraints extension is malformed");
        }

        if (constraints.CertificateAuthority)
        {
            throw new CertificateRequestException(StatusCodes.Status403Forbidden, "csr", "the request asks for a CA certificate (CA:true); workloads get leaf certificates only");
        }
    }

    /// <summary>Whether every general name of a subject-alternative-name extension is a URI; a malformed one throws <see cref="CryptographicException"/>.</summary>
    private static bool HasOnlyUris(X509Extension extension)
    {
        try
        {
            var names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
            var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
            while (names.HasData)
            {
                if (!names.PeekTag().HasSameClassAndValue(uriTag))
                {
                    return false;
                }

                names.ReadEncodedValue();
            }

            return true;
        }
        catch (AsnContentException ex)
        {
            throw new CryptographicException("The subject alternative name is malformed.", ex);
        }
    }

    private static void CheckKey(PublicKey key)
    {
        using var ec = key.GetECDsaPublicKey();
        if (ec is not null)
        {
            if (ec.KeySize < 256)
            {
                throw new CertificateRequestException(StatusCodes.Status400BadRequest, "csr", $"an ECDSA key of {ec.KeySize} bits is too small; at least 256");
            }

            return;
        }

        using var rsa = key.GetRSAPublicKey();
        if (rsa is null || rsa.KeySize < 2048)
        {
            throw new CertificateRequestException(StatusCodes.Status400BadRequest, "csr", "the key must be ECDSA (P-256 or larger) or RSA of at least 2048 bits");
        }
    }

    private static byte[] SerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01); // positive and without a leading zero byte
        return serial;
    }

    private static string Truncate(string value) => CaFolder.Truncate(value);

    [LoggerMessage(40, LogLevel.Information, "Mesh CA: made root {Id} in {Directory}")]
    private static partial void LogRootCreated(ILogger logger, string id, string directory);

    [LoggerMessage(41, LogLevel.Information, "Mesh CA: {Count} trusted root(s), {Active} signing, from {Directory}")]
    private static partial void LogLoaded(ILogger logger, int count, string active, string directory);

    [LoggerMessage(42, LogLevel.Information, "Mesh CA: signed {SpiffeId} version {Version} serial {Serial} valid until {NotAfter:O} with root {Root}")]
    private static partial void LogSigned(ILogger logger, string spiffeId, string version, string serial, DateTimeOffset notAfter, string root);

    [LoggerMessage(43, LogLevel.Warning, "Mesh CA: added root {Id}; it is trusted but does not sign until activated")]
    private static partial void LogRootAdded(ILogger logger, string id);

    [LoggerMessage(44, LogLevel.Warning, "Mesh CA: root {Id} now signs every new certificate")]
    private static partial void LogRootActivated(ILogger logger, string id);

    [LoggerMessage(45, LogLevel.Warning, "Mesh CA: root {Id} removed; certificates it signed are no longer trusted")]
    private static partial void LogRootRemoved(ILogger logger, string id);

    [LoggerMessage(46, LogLevel.Information, "Mesh CA: {LockPath} is held by another replica; waiting for it up to {Timeout}")]
    private static partial void LogLockBusy(ILogger logger, string lockPath, TimeSpan timeout);

    [LoggerMessage(49, LogLevel.Warning, "Mesh CA: .NET file locking is turned off (DOTNET_SYSTEM_IO_DISABLEFILELOCKING), so {Directory} is not locked: replicas sharing it may make two roots or lose a change")]
    private static partial void LogFileLockingDisabled(ILogger logger, string directory);
}
