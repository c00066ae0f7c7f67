using Mesh.Client.LoadBalancing;

namespace Mesh.Client.Telemetry;

/// <summary>
/// The <c>destination_version</c> label values one service's model admits: at most <see cref="MaxVersions"/> of the
/// versions its endpoints have now, the ones with the most endpoints first (then by name); any other version is
/// labelled <see cref="Other"/>.
/// </summary>
/// <remarks>
/// An endpoint's version is what its registration says, and a holder of the service's join token can register
/// instances at any version it likes: each would be a new series on every caller's request metrics. Counting from the
/// current endpoints, rebuilt with the model on every discovery change, keeps the label set bounded while versions
/// come and go with deployments: a version whose endpoints are gone gives its place to the next one, so a canary
/// gets its own label (and the traffic reports a rollout judges it by) however many versions came before.
/// </remarks>
internal sealed class MetricVersions
{
    public const int MaxVersions = 10;

    public const string Other = "other";

    private readonly string[] _admitted;

    private MetricVersions(string[] admitted) => _admitted = admitted;

    public static MetricVersions Of(EndpointState[] endpoints)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var endpoint in endpoints)
        {
            counts[endpoint.Version] = counts.GetValueOrDefault(endpoint.Version) + 1;
        }

        var versions = new List<KeyValuePair<string, int>>(counts);
        versions.Sort(static (a, b) => b.Value != a.Value ? b.Value.CompareTo(a.Value) : string.CompareOrdinal(a.Key, b.Key));
        var admitted = new string[Math.Min(MaxVersions, versions.Count)];
        for (var i = 0; i < admitted.Length; i++)
        {
            admitted[i] = versions[i].Key;
        }

        return new MetricVersions(admitted);
    }

    /// <summary>The label for an endpoint's <paramref name="version"/>: itself when admitted, else <see cref="Other"/>.</summary>
    public string Label(string version)
    {
        foreach (var admitted in _admitted)
        {
            if (string.Equals(admitted, version, StringComparison.Ordinal))
            {
                return admitted;
            }
        }

        return Other;
    }
}
