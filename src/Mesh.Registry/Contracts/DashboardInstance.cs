namespace Mesh.Registry.Contracts;

internal sealed class DashboardInstance
{
    public string Id { get; set; } = string.Empty;

    public string Address { get; set; } = string.Empty;

    public string? Version { get; set; }

    public string? Zone { get; set; }

    /// <summary><c>healthy</c>, or <c>held</c> when the lease has passed and the mass-expiry guard keeps it listed.</summary>
    public string Health { get; set; } = "healthy";

    /// <summary>Seconds since the last renewal.</summary>
    public double LeaseAgeSeconds { get; set; }

    public int TtlSeconds { get; set; }

    public DateTimeOffset? CertificateExpiresAt { get; set; }

    /// <summary>An instance as the dashboard shows it at <paramref name="now"/>: held once its lease has passed.</summary>
    public static DashboardInstance Of(string id, string address, string? version, string? zone, int ttlSeconds, DateTimeOffset expiresAt,
        DateTimeOffset renewedAt, DateTimeOffset now) => new()
    {
        Id = id,
        Address = address,
        Version = version,
        Zone = zone,
        Health = expiresAt <= now ? "held" : "healthy",
        LeaseAgeSeconds = Math.Round(Math.Max(0, (now - renewedAt).TotalSeconds), 1),
        TtlSeconds = ttlSeconds,
    };
}
