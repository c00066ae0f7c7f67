using System.Diagnostics;
using Mesh.Client.LoadBalancing;
using Mesh.Client.Resilience;
using Mesh.Client.Telemetry;

namespace Mesh.Client.Http;

/// <summary>
/// One attempt of a hedged route: the request goes to one endpoint and, each time <see cref="HedgingModel.Delay"/>
/// passes without an answer, to one more (another endpoint when there is one), up to
/// <see cref="HedgingModel.MaxAttempts"/> in flight. The first good answer wins, one the route's retry conditions
/// would not retry; the hedges still in flight are cancelled and their responses disposed. When every hedge failed,
/// the last failure is the attempt's outcome and the call loop's retry rules take it from there, so a hedged group is
/// one attempt of <c>Retry:Attempts</c>. Each hedge is withdrawn from the service's retry budget first: no budget,
/// no hedge.
/// </summary>
/// <remarks>
/// Hand-written rather than Polly's hedging strategy: the call loop is one pooled async method (see MeshHandler), and a
/// Polly pipeline around the attempt would box its own state and a context on every call of every route, hedged or
/// not, where this costs a route without hedging one null check. A hedged call pays for a group, a copy of the request
/// per hedge (HttpClient refuses to send one message twice at once), a token source per hedge and a timer per delay.
/// Every hedge is a copy, the first too: the caller's message is then never in flight while the group reads it to
/// make the next copy, nor when the mesh restores its URI and Host after the call while a loser still winds down.
/// </remarks>
internal sealed class HedgedAttempts
{
    private readonly MeshHandler _handler;
    private readonly MeshCall _call; // a copy only read: what the call records (its endpoint) goes back through Endpoint
    private readonly Activity? _activity;
    private readonly string _client;
    private readonly HedgingModel _hedging;
    private readonly List<HedgedAttempt> _hedges;
    private byte[]? _body;
    private long _perTryStart;

    public HedgedAttempts(MeshHandler handler, in MeshCall call, Activity? activity, string client)
    {
        _handler = handler;
        _call = call;
        _activity = activity;
        _client = client;
        _hedging = call.Route.Hedging!;
        _hedges = new List<HedgedAttempt>(_hedging.MaxAttempts);
    }

    /// <summary>The endpoint of the winning hedge, or of the last one to fail; the picked one when none was sent.</summary>
    public EndpointState? Endpoint { get; private set; }

    /// <summary>
    /// Whether the call may be hedged: a request that may be sent more than once (an idempotent method, or any with the
    /// route's <c>RetryNonIdempotent</c>) with no body or one in memory. gRPC calls are not hedged: their responses
    /// stream, and a streaming body cannot be sent twice.
    /// </summary>
    public static bool CanHedge(in MeshCall call) =>
        !call.IsGrpc && (call.IsIdempotent || call.Route.Retry.RetryNonIdempotent) &&
        call.Request.Content is null or ByteArrayContent or ReadOnlyMemoryContent;

    /// <summary>
    /// Runs the group under <paramref name="attemptToken"/>: the call's deadline and the per-try timeout, which started
    /// at <paramref name="perTryStart"/> (0: as the first hedge leaves).
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(long perTryStart, CancellationToken attemptToken)
    {
        _perTryStart = perTryStart;
        var time = _handler.Runtime.TimeProvider;
        if (_call.Request.Content is { } content)
        {
            // Read once, shared by every copy: ByteArrayContent never writes to its array. In memory, so not I/O.
            _body = await content.ReadAsByteArrayAsync(attemptToken).ConfigureAwait(false);
        }

        var first = _call.Destination.Picker.Pick(_call.Request, _call.PreviousEndpoint, _call.Service.Breaker, _client);
        Endpoint = first.Endpoint;
        if (!first.Succeeded)
        {
            throw MeshHandler.PickError(first.Failure, _call);
        }

        Start(first, time, attemptToken);

        var waits = new List<Task>(_hedging.MaxAttempts + 1);
        CancellationTokenSource? timerSource = null;
        Task? timer = null;
        var mayHedge = true;
        HttpResponseMessage? failedResponse = null;
        Exception? failure = null;
        try
        {
            while (true)
            {
                if (timer is null && mayHedge && _hedges.Count < _hedging.MaxAttempts)
                {
                    timerSource ??= CancellationTokenSource.CreateLinkedTokenSource(attemptToken);
                    timer = Task.Delay(_hedging.Delay, time, timerSource.Token);
                }

                waits.Clear();
                foreach (var h in _hedges)
                {
                    if (!h.Settled)
                    {
                        waits.Add(h.Task);
                    }
                }

                if (waits.Count == 0)
                {
                    // Every hedge failed: the last failure is the attempt's, for the retry rules.
                    break;
                }

                if (timer is not null)
                {
                    waits.Add(timer);
                }

                var done = await Task.WhenAny(waits).ConfigureAwait(false);
                if (done == timer)
                {
                    timer = null;
                    mayHedge = done.IsCompletedSuccessfully && TryHedge(time, attemptToken);
                    continue;
                }

                var hedge = Find(done);
                hedge.Settled = true;
                hedge.Release();
                HttpResponseMessage? response = null;
                Exception? error = null;
                try
                {
                    response = await hedge.Task.ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    error = ex;
                }

                // Only the conditions decide: a Retry-After too long for the loop to wait for is no reason to end
                // the hedges still in flight.
                if (response is not null && !RetryRules.IsRetriableAnswer(response, grpc: false, _call.Route.Retry.Conditions))
                {
                    // A retriable answer kept in case nothing better came is nobody's now: its body would hold its
                    // connection.
                    failedResponse?.Dispose();
                    Won(hedge, response);
                    return response;
                }

                // A failure loses to any hedge still in flight; only the latest is kept.
                failedResponse?.Dispose();
                failedResponse = response;
                failure = error;
                Endpoint = hedge.Endpoint;
                if (response is not null)
                {
                    response.RequestMessage = _call.Request;
                }
            }
        }
        finally
        {
            if (timerSource is not null)
            {
                timerSource.Cancel();
                timerSource.Dispose();
            }

            foreach (var h in _hedges)
            {
                if (!h.Settled)
                {
                    h.Settled = true;
                    h.Abandon();
                }
            }
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        return failedResponse!;
    }

    /// <summary>The winner's endpoint is the call's; the caller gets its own request back on the response.</summary>
    private void Won(HedgedAttempt winner, HttpResponseMessage response)
    {
        Endpoint = winner.Endpoint;
        response.RequestMessage = _call.Request;
        if (_hedges.Count > 1)
        {
            // The call span names the last endpoint tried; with hedges, the one that answered.
            MeshSpans.AttemptStarted(_activity, winner.Endpoint);
        }
    }

    private HedgedAttempt Find(Task done)
    {
        foreach (var h in _hedges)
        {
            if (h.Task == done)
            {
                return h;
            }
        }

        throw new UnreachableException("A completed task belongs to one of the group's hedges.");
    }

    /// <summary>
    /// Starts one more hedge if the budget allows and an endpoint is there; returns whether later hedges may follow.
    /// The budget comes first: a pick moves a balancer on and may take a breaker's probe, both for nothing if refused.
    /// </summary>
    private bool TryHedge(TimeProvider time, CancellationToken attemptToken)
    {
        if (attemptToken.IsCancellationRequested)
        {
            return false;
        }

        var service = _call.Service;
        if (!service.Budget.TryWithdraw())
        {
            _handler.Runtime.Telemetry.RecordBudgetExhausted(service.Name);
            return false;
        }

        var pick = PickHedge();
        if (!pick.Succeeded)
        {
            // No endpoint or every breaker open: the hedges in flight are all this attempt gets.
            return false;
        }

        Start(pick, time, attemptToken);
        _handler.Runtime.Telemetry.RecordHedge(service.Name, _call.Route.Name);
        MeshSpans.AttemptHedged(_activity, _hedges.Count - 1, pick.Endpoint!);
        return _hedges.Count < _hedging.MaxAttempts;
    }

    /// <summary>
    /// An endpoint for the next hedge, preferring one no hedge of the group is in flight on: a hedge exists to get
    /// away from the slow one. The picker avoids one endpoint, the latest hedge's; a pick that still lands on a busy
    /// one is put back (its probe released) and picked again, a few times, before the busy one is taken after all.
    /// </summary>
    private PickResult PickHedge()
    {
        var picker = _call.Destination.Picker;
        var avoid = _hedges[^1].Endpoint;
        var tries = Math.Min(picker.Endpoints.Length, _hedging.MaxAttempts);
        for (var i = 0; ; i++)
        {
            var pick = picker.Pick(_call.Request, avoid, _call.Service.Breaker, _client);
            if (!pick.Succeeded || i + 1 >= tries || !InFlight(pick.Endpoint!))
            {
                return pick;
            }

            if (pick.IsProbe)
            {
                pick.Breaker!.ReleaseProbe();
            }

            avoid = pick.Endpoint;
        }
    }

    private bool InFlight(EndpointState endpoint)
    {
        foreach (var h in _hedges)
        {
            if (!h.Settled && ReferenceEquals(h.Endpoint, endpoint))
            {
                return true;
            }
        }

        return false;
    }

    private void Start(in PickResult pick, TimeProvider time, CancellationToken attemptToken)
    {
        var endpoint = pick.Endpoint!;
        HttpRequestMessage copy;
        long start;
        try
        {
            copy = Copy(endpoint);
            MeshSpans.AttemptStarted(_activity, endpoint);
            MeshSpans.InjectTraceContext(copy); // a propagator may throw
            start = time.GetTimestamp();
            if (_perTryStart == 0)
            {
                // The per-try timeout bounds the group: a later hedge gets what is left of it, not all of it.
                _perTryStart = start;
            }

            if (_call.Deadline != 0 || _call.Route.Retry.PerTryTimeout is not null)
            {
                MeshHandler.SetTimeoutHeader(copy, _call, start, _perTryStart, time);
            }
        }
        catch
        {
            // Never sent, so it judges nothing; a half-open probe it took goes back at once, as for any attempt.
            if (pick.IsProbe)
            {
                pick.Breaker!.ReleaseProbe();
            }

            throw;
        }

        var hedge = new HedgedAttempt(copy, pick, _call.Service.Outliers, time, attemptToken);
        _hedges.Add(hedge);
        _call.Destination.Locality?.OnAttempt(endpoint);
        hedge.Start(_handler, start, _call.UnjudgedToken);
    }

    /// <summary>
    /// The caller's request for one hedge, pointed at <paramref name="endpoint"/>: method, version, headers (the Host
    /// the call set included), options and the body's bytes with its headers. Never disposed: it holds nothing but
    /// memory, and the winner's may still be read by the transport while its response streams.
    /// </summary>
    private HttpRequestMessage Copy(EndpointState endpoint)
    {
        var request = _call.Request;
        var copy = new HttpRequestMessage(request.Method, EndpointUri.Rewrite(endpoint, _call.OriginalUri))
        {
            Version = request.Version,
            VersionPolicy = request.VersionPolicy,
        };
        foreach (var header in request.Headers.NonValidated)
        {
            copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        var options = (IDictionary<string, object?>)copy.Options;
        foreach (var option in request.Options)
        {
            options[option.Key] = option.Value;
        }

        if (_body is not null)
        {
            copy.Content = new ByteArrayContent(_body);
            foreach (var header in request.Content!.Headers.NonValidated)
            {
                copy.Content.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        return copy;
    }
}
