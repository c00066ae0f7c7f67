namespace Mesh.Client;

/// <summary>
/// Locality-aware balancing (Istio's <c>localityLbSetting</c>): when this app has a zone (<c>Mesh:Service:Zone</c>)
/// and the destination's endpoints carry zones, traffic stays in the caller's zone while enough of its endpoints are
/// healthy and spills over to other zones as they are ejected. Set at most one of <see cref="Failover"/> and
/// <see cref="Distribute"/>; with neither, the local zone comes first and every other zone next, together.
/// </summary>
public sealed class LocalityOptions
{
    /// <summary>Whether locality applies when this app and the endpoints have zones. True by default.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The zones traffic spills over to, in order, after the caller's own zone; zones not listed come last, together.
    /// </summary>
    public IList<string> Failover { get; set; } = [];

    /// <summary>
    /// Instead of failover, the share of traffic each zone gets, as weights summing to 100; zones not listed get none.
    /// A zone whose endpoints are partly ejected gets less, as in Envoy's locality weighted balancing.
    /// </summary>
    public IDictionary<string, int> Distribute { get; set; } = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
}
