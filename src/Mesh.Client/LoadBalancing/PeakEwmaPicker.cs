using Mesh.Client.Internal;

namespace Mesh.Client.LoadBalancing;

internal sealed class PeakEwmaPicker : TwoChoicesPicker
{
    private readonly TimeProvider _timeProvider;
    private readonly double _decayTicks;
    private readonly double _unknownLatencyTicks;

    public PeakEwmaPicker(EndpointState[] endpoints, EjectionTracker ejections, RandomSource random, TimeProvider timeProvider)
        : base(endpoints, ejections, random)
    {
        _timeProvider = timeProvider;
        _decayTicks = EndpointState.DecayTicks(timeProvider.TimestampFrequency);

        // An endpoint with no sample yet is assumed to take 10 ms: cheap enough to get traffic, not a magnet.
        _unknownLatencyTicks = timeProvider.TimestampFrequency / 100.0;
    }

    protected override long Now() => _timeProvider.GetTimestamp();

    protected override double Cost(EndpointState endpoint, long now) =>
        endpoint.Cost(now, _decayTicks, _unknownLatencyTicks);

    protected override void OnPassedOver(EndpointState endpoint) => endpoint.OnPassedOver();
}
