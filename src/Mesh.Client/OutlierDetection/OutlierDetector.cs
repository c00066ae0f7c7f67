using Mesh.Client.LoadBalancing;
using Mesh.Client.Telemetry;

namespace Mesh.Client.OutlierDetection;

/// <summary>
/// Ejects endpoints that keep failing, with Istio's semantics: an endpoint is ejected when it reaches
/// <c>Consecutive5xxErrors</c> (or <c>ConsecutiveGatewayErrors</c>) failures in a row; it stays out for
/// <c>BaseEjectionTime</c> times the number of times it has been ejected; at most <c>MaxEjectionPercent</c> of the
/// endpoints are out at once, though one may always be. Connection failures count as both kinds of error.
/// Immutable apart from the endpoint records it updates; a policy change builds a new one.
/// </summary>
internal sealed class OutlierDetector
{
    // Envoy caps the ejection time at 300 s by default so an endpoint that flapped many times still comes back.
    private static readonly TimeSpan MaxEjectionTime = TimeSpan.FromSeconds(300);
    // The settings are copied, not referenced: the detector is part of the immutable model and its options are not.
    private readonly int _consecutive5xx;
    private readonly int _consecutiveGateway;
    private readonly TimeSpan _baseEjectionTime;
    private readonly double _maxEjectionPercent;
    private readonly EndpointState[] _endpoints;
    private readonly EjectionTracker _tracker;
    private readonly MeshTelemetry _telemetry;
    private readonly string _service;
    private readonly long _intervalTicks;
    private readonly SlowStartTracker? _slowStart;

    public OutlierDetector(OutlierDetectionOptions options, EndpointState[] endpoints, EjectionTracker tracker, MeshTelemetry telemetry, string service,
        SlowStartTracker? slowStart = null)
    {
        _slowStart = slowStart;
        _consecutive5xx = options.Consecutive5xxErrors;
        _consecutiveGateway = options.ConsecutiveGatewayErrors;
        _baseEjectionTime = options.BaseEjectionTime;
        _maxEjectionPercent = options.MaxEjectionPercent;
        _endpoints = endpoints;
        _tracker = tracker;
        _telemetry = telemetry;
        _service = service;
        _intervalTicks = ToTicks(options.Interval);
    }

    public bool Enabled => _consecutive5xx > 0 || _consecutiveGateway > 0;

    /// <summary>Records an attempt's outcome: an HTTP status, or 0 for a connection-level failure.</summary>
    public void Report(EndpointState endpoint, int statusCode)
    {
        if (statusCode is > 0 and < 500)
        {
            endpoint.ResetConsecutiveErrors();
            return;
        }

        if (!Enabled)
        {
            return;
        }

        var gateway = statusCode is 0 or 502 or 503 or 504;
        var eject = false;
        if (_consecutive5xx > 0 && endpoint.IncrementConsecutive5xx() >= _consecutive5xx)
        {
            eject = true;
        }

        if (gateway)
        {
            if (_consecutiveGateway > 0 && endpoint.IncrementConsecutiveGateway() >= _consecutiveGateway)
            {
                eject = true;
            }
        }
        else
        {
            endpoint.ResetConsecutiveGateway();
        }

        if (eject)
        {
            TryEject(endpoint);
        }
    }

    private void TryEject(EndpointState endpoint)
    {
        var now = _tracker.TimeProvider.GetTimestamp();
        var previous = endpoint.EjectedUntil;
        if (previous != 0 && now < previous)
        {
            return;
        }

        var ejected = 0;
        foreach (var e in _endpoints)
        {
            if (e.IsEjected(now))
            {
                ejected++;
            }
        }

        // At least one endpoint is always ejectable, whatever the percentage says (Envoy does the same).
        if (ejected > 0 && (ejected + 1) * 100.0 > _endpoints.Length * _maxEjectionPercent)
        {
            return;
        }

        var multiplier = endpoint.NextEjectionMultiplier(now, _intervalTicks);
        var duration = TimeSpan.FromTicks(Math.Min(_baseEjectionTime.Ticks * multiplier,
            Math.Max(MaxEjectionTime.Ticks, _baseEjectionTime.Ticks)));
        var until = now + ToTicks(duration);
        if (endpoint.TryEject(now, until, previous))
        {
            endpoint.MarkEjectionEnd(until);
            _tracker.OnEjected(until);

            // An endpoint back from ejection ramps up again (slow start), from the moment the ejection ends.
            _slowStart?.OnStarted(until);
            _telemetry.RecordEjection(_service, endpoint);
        }
    }

    private long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * _tracker.TimeProvider.TimestampFrequency);
}
