using Mesh.Client.Internal;

namespace Mesh.Client.LoadBalancing;

internal sealed class LeastRequestPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    : TwoChoicesPicker(endpoints, ejections, random)
{
    protected override double Cost(EndpointState endpoint, long now) => endpoint.InFlight;
}
