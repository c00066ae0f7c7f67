using Mesh.Client.Internal;

namespace Mesh.Client.LoadBalancing;

internal sealed class LeastRequestPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random)
    : TwoChoicesPicker(endpoints, ejections, random)
{
    // Plus one, as in Envoy, so that dividing by a slow-start weight ranks idle endpoints too.
    protected override double Cost(EndpointState endpoint, long now) => endpoint.InFlight + 1;
}
