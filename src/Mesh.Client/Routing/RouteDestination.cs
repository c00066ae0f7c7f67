using Mesh.Client.LoadBalancing;

namespace Mesh.Client.Routing;

/// <summary>A weighted destination of a route, resolved to the picker of its subset.</summary>
internal sealed record RouteDestination(string Subset, EndpointPicker Picker, int CumulativeWeight)
{
    /// <summary>The picker's locality layer, which counts cross-zone attempts; null when the destination has none.</summary>
    public LocalityPicker? Locality { get; } = Picker as LocalityPicker;
}
