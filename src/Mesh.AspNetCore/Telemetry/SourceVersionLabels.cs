using System.Collections.Concurrent;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// Bounds how many <c>source_version</c> label values one calling service can bring into this process's metrics. A
/// caller's version is what its certificate proves, but a workload holding a join token that names no version can get
/// certificates for any version it likes, and each new one would be a new series on every metric it touches, filling
/// the exporter's per-metric cap until real callers' series are dropped. The first <see cref="MaxVersionsPerService"/>
/// versions seen from a service keep their names; later ones are labelled <see cref="Other"/>. Real deployments run a
/// few versions of a service at once, and a process restarts long before it has seen ten.
/// </summary>
internal sealed class SourceVersionLabels
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
