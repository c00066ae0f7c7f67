namespace Mesh.Registry;

/// <summary>The registry's configuration: the <c>MeshRegistry</c> section (environment variables <c>MeshRegistry__AdminToken</c> and so on).</summary>
internal sealed class RegistryOptions
{
    public const string SectionName = "MeshRegistry";

    /// <summary>
    /// Where the registry keeps its state: <c>Sqlite</c> (the default), an embedded file at <see cref="DataPath"/> in
    /// one registry process; or <c>Etcd</c>, the cluster <see cref="Etcd"/> names, shared by any number of replicas.
    /// </summary>
    public string Store { get; set; } = Mesh.Registry.Store.RegistryStoreNames.Sqlite;

    /// <summary>The etcd cluster, when <see cref="Store"/> is <c>Etcd</c>.</summary>
    public Mesh.Registry.Store.Etcd.EtcdStoreOptions Etcd { get; set; } = new();

    /// <summary>
    /// The SQLite file; a relative path is taken from the app's content root. Its folder is created. By default
    /// <c>mesh-registry.db</c> in the user's data folder (<see cref="RegistryDefaults.DataDirectory"/>), never the
    /// current folder: the CA's private keys live next to it.
    /// </summary>
    public string DataPath { get; set; } = RegistryDefaults.DataDirectory is { Length: > 0 } directory ? Path.Combine(directory, "mesh-registry.db") : "";

    /// <summary>
    /// The token for policy writes (and every other call). When empty, the first start generates one, prints it once
    /// and keeps only its SHA-256 hash in the store; later starts use that hash.
    /// </summary>
    public string? AdminToken { get; set; }

    /// <summary>Service name → join token: the token may register, renew and deregister that service's instances, and read.</summary>
    public Dictionary<string, string> JoinTokens { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The SPIFFE trust domain of the mesh CA.</summary>
    public string TrustDomain { get; set; } = "mesh.local";

    /// <summary>
    /// Host names and IP addresses the registry's HTTPS certificate names besides <c>localhost</c>, 127.0.0.1, ::1 and
    /// the machine's name (clients check its SPIFFE ID, but other tools such as curl check these).
    /// </summary>
    public List<string> ServerNames { get; set; } = [];

    /// <summary>
    /// When more than this share of a service's instances would expire within one lease window, they are held instead
    /// (a network blip at the registry must not empty the mesh). 0.5 by default; 1 turns the guard off.
    /// </summary>
    public double MassExpiryThreshold { get; set; } = 0.5;

    /// <summary>How long the mass-expiry guard holds instances whose owners do not come back. 5 minutes by default.</summary>
    public TimeSpan MassExpiryMaxHold { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The most instances one service may have (live, or held by the mass-expiry guard): a registration of a new
    /// instance id beyond it is refused with 409, whoever makes it, while renewals and changes of existing ids always
    /// pass. It bounds what one workload holding its service's join token or certificate can make every reader of that
    /// service download. 5000 by default; from 1 to 1000000.
    /// </summary>
    public int MaxInstancesPerService { get; set; } = 5000;

    /// <summary>
    /// The most watches one caller may have parked at once: a caller is a service's join token or mesh certificate from
    /// one address (an IPv6 /64 counts as one), so every instance of a service has places of its own; the admin is not
    /// limited. A watch that would park beyond it is refused with 429; a read that answers at once never is. It bounds
    /// the memory and wake-up work one app can make the registry hold. 100 by default; from 1 to 1000000.
    /// </summary>
    public int MaxWatchesPerCaller { get; set; } = 100;

    /// <summary>The longest a watch may wait; a longer <c>wait</c> is cut to this. 5 minutes by default.</summary>
    public TimeSpan MaxWatchWait { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a watch with an <c>index</c> but no <c>wait</c> waits. 60 seconds by default.</summary>
    public TimeSpan DefaultWatchWait { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The mesh CA's folder (roots and their keys, mode 0700; keys 0600); a relative path is taken from the content
    /// root. By default a <c>ca</c> folder next to the SQLite file.
    /// </summary>
    public string? CaPath { get; set; }

    /// <summary>
    /// How often the CA re-reads its folder for changes other replicas made (besides watching it, which misses events on
    /// some mounts). 5 seconds by default; at least a second, at most an hour.
    /// </summary>
    public TimeSpan CaReloadInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the CA waits for its folder's lock, which another replica holds while it makes or changes the CA.
    /// 30 seconds by default; at least a second, at most 10 minutes.
    /// </summary>
    public TimeSpan CaLockTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a workload certificate is valid. 24 hours by default; at least one minute, at most 30 days.</summary>
    public TimeSpan CertificateLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Failed authentications (a token that matches nothing) one remote address may make per
    /// <see cref="FailedAuthWindow"/> before its API calls get 429 without their token being looked at; the
    /// allowance comes back evenly over the window. 60 by default; 0 turns the limit off.
    /// </summary>
    public int FailedAuthLimit { get; set; } = 60;

    /// <summary>The window of <see cref="FailedAuthLimit"/>. One minute by default; at least a second, at most an hour.</summary>
    public TimeSpan FailedAuthWindow { get; set; } = TimeSpan.FromMinutes(1);
}
