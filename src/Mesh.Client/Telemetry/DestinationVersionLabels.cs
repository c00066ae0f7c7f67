using System.Collections.Concurrent;

namespace Mesh.Client.Telemetry;

/// <summary>
/// Bounds how many <c>destination_version</c> label values one destination service can bring into this process's
/// metrics. An endpoint's version is what its registration says, and a join token that names no version registers
/// instances at any version it likes (no certificate needed, nor an instance that answers): each new one would be a new
/// series on every caller's request metrics, filling the exporter's per-metric cap until other destinations' series
/// are dropped. The first <see cref="MaxVersionsPerService"/> versions seen of a service keep their names; later ones
/// are labelled <see cref="Other"/>, as the destination side bounds <c>source_version</c>.
/// </summary>
internal sealed class DestinationVersionLabels
{
    public const int MaxVersionsPerService = 10;

    public const string Other = "other";

    private readonly ConcurrentDictionary<string, string[]> _admitted = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>The label for <paramref name="version"/> of <paramref name="service"/>: itself once admitted, else "other".</summary>
    public string Label(string service, string version)
    {
        // Reads scan a small immutable array; only the first sighting of a version takes the lock.
        if (_admitted.TryGetValue(service, out var versions))
        {
            foreach (var admitted in versions)
            {
                if (string.Equals(admitted, version, StringComparison.Ordinal))
                {
                    return admitted;
                }
            }

            if (versions.Length >= MaxVersionsPerService)
            {
                return Other;
            }
        }

        return Admit(service, version);
    }

    private string Admit(string service, string version)
    {
        lock (_gate)
        {
            var versions = _admitted.TryGetValue(service, out var current) ? current : [];
            foreach (var admitted in versions)
            {
                if (string.Equals(admitted, version, StringComparison.Ordinal))
                {
                    return admitted;
                }
            }

            if (versions.Length >= MaxVersionsPerService)
            {
                return Other;
            }

            _admitted[service] = [.. versions, version];
            return version;
        }
    }
}
