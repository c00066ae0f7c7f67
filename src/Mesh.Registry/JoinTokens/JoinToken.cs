namespace Mesh.Registry;

/// <summary>
/// A join token made through <c>POST /v1/join-tokens</c>: for one service (and optionally one version), until
/// <see cref="ExpiresAt"/>, for at most <see cref="Uses"/> certificates. Only the token's SHA-256 is kept.
/// </summary>
internal sealed class JoinToken(string id, byte[] hash, string service, string? version, DateTimeOffset createdAt, DateTimeOffset expiresAt,
    int uses, int used)
{
    private int _used = used;

    public string Id { get; } = id;

    public byte[] Hash { get; } = hash;

    public string Service { get; } = service;

    /// <summary>The only version certificates signed with this token may carry; null: the version the workload names.</summary>
    public string? Version { get; } = version;

    public DateTimeOffset CreatedAt { get; } = createdAt;

    public DateTimeOffset ExpiresAt { get; } = expiresAt;

    /// <summary>How many certificates the token may get (each joins one instance).</summary>
    public int Uses { get; } = uses;

    /// <summary>How many it has got, as the store counted them. Changed only by the token store, one change at a time.</summary>
    public int Used
    {
        get => Volatile.Read(ref _used);
        set => Volatile.Write(ref _used, value);
    }

    /// <summary>Who a request with this token is, made once: authentication is on every heartbeat.</summary>
    public RegistryCaller Caller { get; } = new(false, service, id, version);

    public bool IsExpired(DateTimeOffset now) => now >= ExpiresAt;
}
