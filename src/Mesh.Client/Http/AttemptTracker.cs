using Mesh.Client.LoadBalancing;
using Mesh.Client.OutlierDetection;
using Mesh.Client.Resilience;

namespace Mesh.Client.Http;

/// <summary>
/// The bookkeeping of one attempt on one endpoint: its start, and its outcome reported exactly once to the endpoint's
/// load statistics, its circuit breaker and the outlier detector, or its half-open probe released when the attempt
/// cannot judge the endpoint. A struct kept in the call loop's pooled state machine: nothing is allocated per attempt.
/// Mutable: keep it in one place and call it there, never copy it.
/// </summary>
internal struct AttemptTracker
{
    private readonly OutlierDetector _outliers;
    private readonly TimeProvider _time;
    private EndpointState? _endpoint;
    private EndpointBreaker? _breaker;
    private long _start;
    private bool _probe;
    private Stage _stage;

    public AttemptTracker(OutlierDetector outliers, TimeProvider time)
    {
        _outliers = outliers;
        _time = time;
    }

    private enum Stage : byte
    {
        /// <summary>No endpoint yet: nothing to report.</summary>
        Unpicked,

        /// <summary>An endpoint (and maybe its breaker's probe) is held, the request not yet sent.</summary>
        Picked,

        /// <summary>The request went to the endpoint: its outcome judges it.</summary>
        Sent,

        /// <summary>The outcome was reported (or the probe released); nothing more to do.</summary>
        Done,
    }

    /// <summary>The attempt holds <paramref name="pick"/>'s endpoint, and its breaker's probe if it took one.</summary>
    public void Picked(in PickResult pick)
    {
        _endpoint = pick.Endpoint;
        _breaker = pick.Breaker;
        _probe = pick.IsProbe;
        _stage = Stage.Picked;
    }

    /// <summary>
    /// The request is about to leave at <paramref name="startTimestamp"/>: the endpoint counts it in flight from now,
    /// and any failure from here on is the endpoint's.
    /// </summary>
    public void Sending(long startTimestamp)
    {
        _start = startTimestamp;
        _endpoint!.OnAttemptStarted();
        _stage = Stage.Sent;
    }

    /// <summary>The endpoint answered with <paramref name="statusCode"/>.</summary>
    public void Completed(int statusCode)
    {
        if (_stage != Stage.Sent)
        {
            return;
        }

        _stage = Stage.Done;
        var end = _time.GetTimestamp();
        var endpoint = _endpoint!;
        endpoint.OnAttemptCompleted(_start, end, _time.TimestampFrequency);
        _breaker?.Record(failure: statusCode >= 500, end);
        _outliers.Report(endpoint, statusCode);
    }

    /// <summary>
    /// The attempt failed. Only an attempt that reached the endpoint judges it, and not when the caller gave up
    /// (<paramref name="callerGaveUp"/>): that says nothing about the endpoint, where a per-try or total timeout says
    /// it was too slow. A half-open probe that will never judge is released, so that the next attempt may probe at once.
    /// </summary>
    /// <returns>Whether the request had been sent to the endpoint (whose span then records the error).</returns>
    public bool Failed(bool callerGaveUp)
    {
        var stage = _stage;
        if (stage is Stage.Unpicked or Stage.Done)
        {
            return false;
        }

        _stage = Stage.Done;
        var sent = stage == Stage.Sent;
        var judged = sent && !callerGaveUp;
        if (sent)
        {
            var end = _time.GetTimestamp();
            var endpoint = _endpoint!;
            endpoint.OnAttemptFailed(_start, end, _time.TimestampFrequency);
            if (judged)
            {
                _breaker?.Record(failure: true, end);
                _outliers.Report(endpoint, 0);
            }
        }

        if (!judged && _probe)
        {
            _breaker!.ReleaseProbe();
        }

        return sent;
    }
}
