namespace Mesh.Registry;

/// <summary>A join token as the API shows it. <see cref="Token"/>, the secret, is in the answer to its creation only.</summary>
internal sealed class JoinTokenRecord
{
    public required string Id { get; init; }

    public string? Token { get; init; }

    public required string Service { get; init; }

    public string? Version { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset ExpiresAt { get; init; }

    /// <summary>How many certificates the token may get.</summary>
    public int Uses { get; init; }

    /// <summary>How many it has got.</summary>
    public int Used { get; init; }

    /// <summary><c>active</c>, <c>spent</c> (registers and reads until it expires, gets no more certificates) or <c>expired</c>.</summary>
    public required string State { get; init; }

    public static JoinTokenRecord Of(JoinToken token, DateTimeOffset now, string? secret = null)
    {
        var used = token.Used;
        return new JoinTokenRecord
        {
            Id = token.Id,
            Token = secret,
            Service = token.Service,
            Version = token.Version,
            CreatedAt = token.CreatedAt,
            ExpiresAt = token.ExpiresAt,
            Uses = token.Uses,
            Used = used,
            State = token.IsExpired(now) ? "expired" : used >= token.Uses ? "spent" : "active",
        };
    }
}
