using Mesh.Client.Internal;
using Mesh.Client.OutlierDetection;

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
        _decayTicks = DecayTicks(timeProvider);

        // An endpoint with no sample yet is assumed to take 10 ms: cheap enough to get traffic, not a magnet.
        _unknownLatencyTicks = timeProvider.TimestampFrequency / 100.0;
    }

    /// <summary>Finagle's and Linkerd's decay time, 10 s: how long a latency sample keeps its weight.</summary>
    public static double DecayTicks(TimeProvider timeProvider) => timeProvider.TimestampFrequency * 10.0;

    protected override long Now() => _timeProvider.GetTimestamp();

    protected override double Cost(EndpointState endpoint, long now) =>
        endpoint.Cost(now, _decayTicks, _unknownLatencyTicks);
}
