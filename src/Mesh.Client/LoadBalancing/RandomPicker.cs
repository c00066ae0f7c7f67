using Mesh.Client.Internal;

namespace Mesh.Client.LoadBalancing;

internal sealed class RandomPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    : EndpointPicker(endpoints, ejections, random)
{
    protected override EndpointState? Pick(HttpRequestMessage request, in PickFilter filter)
    {
        var start = Random.Next(Endpoints.Length);
        return filter.IsAll ? Endpoints[start] : Scan(start, filter);
    }
}
