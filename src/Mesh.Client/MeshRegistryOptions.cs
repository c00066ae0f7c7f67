namespace Mesh.Client;

/// <summary>Where the registry is and the token this app joins with.</summary>
public sealed class MeshRegistryOptions
{
    /// <summary>
    /// The registry's base URL, e.g. <c>https://registry.example:7400</c>. An https URL needs <see cref="CaFingerprint"/>
    /// or <see cref="CaFile"/>. Plain http is accepted for loopback addresses only (127.0.0.0/8, ::1, localhost) unless
    /// <see cref="AllowInsecure"/> is set.
    /// </summary>
    public Uri? Url { get; set; }

    /// <summary>
    /// The base URLs of the registry's replicas, instead of <see cref="Url"/> (set one or the other), each under
    /// <see cref="Url"/>'s rules and all with one scheme. Every registry call goes to the current replica; after a
    /// connection failure, a timeout or a 500, 502, 503 or 504 the client moves to the next one with jittered exponential
    /// backoff, and the app keeps routing on its last known state meanwhile. A watch resumes on the next replica where
    /// it left off. Any other answer (a 4xx) is the registry's answer, not a reason to move.
    /// </summary>
    public IList<Uri> Urls { get; set; } = new List<Uri>();

    /// <summary>The join token for this service. Never logged.</summary>
    public string? Token { get; set; }

    /// <summary>This instance's id in the registry; by default the machine name and the port it listens on.</summary>
    public string? InstanceId { get; set; }

    /// <summary>The address other services reach this app at; by default the first address Kestrel bound.</summary>
    public Uri? AdvertiseAddress { get; set; }

    /// <summary>The registration's lease: it expires this long after the last renewal. Renewed every third of it. 15 s by default.</summary>
    public int TtlSeconds { get; set; } = 15;

    /// <summary>
    /// On graceful shutdown, how long to keep serving after deregistering, so that watchers stop sending before the
    /// server stops accepting; measured on the app's <see cref="TimeProvider"/>. The server integration raises the
    /// host's shutdown timeout to cover it. 2 s by default.
    /// </summary>
    public TimeSpan DrainDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Where the last snapshot from the registry is kept, so an app restarted while the registry is down still
    /// routes. By default <c>MeshLib/cache</c> in the user's local data folder (none without one), made readable by the user
    /// only; never the shared temporary directory, where another user could plant a snapshot. Empty turns the cache off.
    /// </summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Whether to register this app with the registry. True by default when a registry is configured.</summary>
    public bool Register { get; set; } = true;

    /// <summary>
    /// The registry CA's root fingerprint as the registry prints it at start, <c>sha256:</c> and 64 hex digits. The
    /// registry is accepted only with a certificate for <c>spiffe://&lt;trust domain&gt;/registry</c> that chains to this
    /// root (or to a root learned from it later, so root rotations keep working).
    /// </summary>
    public string? CaFingerprint { get; set; }

    /// <summary>A PEM file with the registry CA's root certificate(s), an alternative to <see cref="CaFingerprint"/>.</summary>
    public string? CaFile { get; set; }

    /// <summary>
    /// Allows a plain http <see cref="Url"/> to a host that is not a loopback address. Join tokens, certificate requests
    /// and the trust bundle then cross the network in the clear: for isolated test networks only. False by default.
    /// </summary>
    public bool AllowInsecure { get; set; }

    /// <summary>Whether a registry is configured, by <see cref="Url"/> or <see cref="Urls"/>.</summary>
    internal bool IsConfigured => Url is not null || Urls is { Count: > 0 };

    /// <summary>The replicas in the order they are tried: <see cref="Urls"/>, or <see cref="Url"/> alone.</summary>
    internal Uri[] Replicas => Urls is { Count: > 0 } urls ? [.. urls] : Url is null ? [] : [Url];
}
