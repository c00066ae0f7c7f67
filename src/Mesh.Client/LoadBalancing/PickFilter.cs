namespace Mesh.Client.LoadBalancing;

/// <summary>Which endpoints a pick may return.</summary>
internal readonly struct PickFilter(EndpointState? avoid, bool filterEjected, long now)
{
    public static PickFilter All => default;

    public bool IsAll => avoid is null && !filterEjected;

    public bool Accepts(EndpointState e) => !ReferenceEquals(e, avoid) && !(filterEjected && e.IsEjected(now));
}
