using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.RateLimiting;
using Mesh.Client.Grpc;
using Mesh.Client.Internal;
using Mesh.Client.LoadBalancing;
using Mesh.Client.Resilience;
using Mesh.Client.Runtime;
using Mesh.Client.Telemetry;

namespace Mesh.Client.Http;

/// <summary>
/// The outbound mesh pipeline as one <see cref="DelegatingHandler"/>. A request to a mesh service is matched to a
/// route and split to a destination; under the call's deadline it meets the route's faults and takes a slot of the
/// service's overflow limit, then is sent in a loop of attempts: each attempt (meets the faults again with
/// <c>PerAttempt</c>,) picks an endpoint, asks its circuit breaker, rewrites the URI to it, sends under the per-try
/// timeout and reports the outcome; the retry rules and the service's retry budget decide whether another attempt
/// follows. A last attempt with no endpoint to go to answers 503. Requests to other hosts pass through untouched.
/// Redirects are followed here, above the transport, so that each new request is routed again (see <see cref="Redirects"/>).
/// </summary>
/// <remarks>
/// The whole call is one async method on purpose. Over a real transport every await completes asynchronously, so
/// each nested async layer (or resilience strategy) boxes its own state machine on the heap, per request; one layer
/// is one box. Timers and linked token sources exist only when the call has a deadline or the route a per-try timeout.
/// </remarks>
internal sealed class MeshHandler : DelegatingHandler
{
    /// <summary>Marks the mesh's own deadline, as distinct from a timeout the transport below reports.</summary>
    private const string DeadlinePassed = "The mesh deadline of the call passed.";

    private readonly string _clientName;
    private readonly TimeoutSourcePool _timeouts;

    /// <summary>How many redirects the mesh follows for its caller (see <see cref="Redirects"/>); 0: none.</summary>
    private int _maxRedirects;

    public MeshHandler(MeshRuntime runtime, string clientName)
    {
        Runtime = runtime;
        _clientName = clientName;
        _timeouts = new TimeoutSourcePool(runtime.TimeProvider);
    }

    public MeshRuntime Runtime { get; }

    /// <summary>
    /// Takes the following of redirects over from <paramref name="transport"/>, the one this handler sends over (see
    /// <see cref="TransportRedirects"/>). Called once, before the first request.
    /// </summary>
    internal void FollowRedirectsFor(HttpMessageHandler transport) => _maxRedirects = TransportRedirects.TakeOver(transport);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri;
        if (uri is null || !uri.IsAbsoluteUri || !Runtime.TryGetService(uri.Host, out var service))
        {
            // Past the mesh, the transport no longer follows redirects: the mesh follows them for every host.
            return _maxRedirects == 0 ? base.SendAsync(request, cancellationToken) : PassThroughAsync(request, cancellationToken);
        }

        return SendMeshAsync(request, uri, service, _maxRedirects, cancellationToken).AsTask();
    }

    /// <summary>
    /// <c>HttpClient.Send</c>. A mesh service has no synchronous path: passed down as it is, the request would reach the
    /// transport with the service's name as its host, which the transport looks up in DNS and sends to whatever
    /// answers, past routes, policy and mesh TLS. The caller chose to block, so it blocks on the mesh's call.
    /// </summary>
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri;
        if (uri is null || !uri.IsAbsoluteUri || !Runtime.TryGetService(uri.Host, out var service))
        {
            var response = base.Send(request, cancellationToken);
            return _maxRedirects == 0 || !Redirects.MayRedirect((int)response.StatusCode)
                ? response
                : Redirects.FollowAsync(this, request, response, _maxRedirects, synchronous: true, cancellationToken).GetAwaiter().GetResult();
        }

        return SendMeshAsync(request, uri, service, _maxRedirects, cancellationToken).AsTask().GetAwaiter().GetResult();
    }

    internal Task<HttpResponseMessage> SendToInnerAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.SendAsync(request, cancellationToken);

    /// <summary>A redirected request: through the mesh again (a mesh service is routed), without following further.</summary>
    internal Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, bool synchronous, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        if (!Runtime.TryGetService(uri.Host, out var service))
        {
            return synchronous ? Task.FromResult(base.Send(request, cancellationToken)) : base.SendAsync(request, cancellationToken);
        }

        return SendMeshAsync(request, uri, service, maxRedirects: 0, cancellationToken).AsTask();
    }

    private async Task<HttpResponseMessage> PassThroughAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return Redirects.MayRedirect((int)response.StatusCode)
            ? await Redirects.FollowAsync(this, request, response, _maxRedirects, synchronous: false, cancellationToken).ConfigureAwait(false)
            : response;
    }

    // The state machine of this method is large (the call, its loop of attempts, timers and spans) and, over a real
    // transport, boxed on every call. A pooled box is reused across calls; only a small task wrapping it is new. The
    // ValueTask must be consumed exactly once (SendAsync's AsTask): the box goes back to the pool after that. What an
    // attempt does to its endpoint (load, breaker, outliers, probe) is AttemptTracker's, a struct inside this box.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<HttpResponseMessage> SendMeshAsync(HttpRequestMessage request, Uri uri, ServiceModel service, int maxRedirects,
        CancellationToken cancellationToken)
    {
        var time = Runtime.TimeProvider;
        var start = time.GetTimestamp();
        var route = service.Match(request);
        if (route is null)
        {
            Runtime.Telemetry.RecordRequest(service.Name, "unknown", "none", 404, string.Empty, mutualTls: false, RequestBytes(request), 0, 0);
            return NoRouteResponse(request, service);
        }

        var grpc = GrpcResponses.IsGrpc(request);
        var deadline = Deadline(route.Timeout, start, time, grpc ? request : null, out var callersDeadline, out var callersGrpcTimeout);
        var call = new MeshCall(request, uri, service, route, route.PickDestination(Runtime.Random), start, deadline, grpc, cancellationToken);
        service.Budget.RecordRequest(start); // the call's start time: saves a clock read

        var mirrored = false;
        if (route.Mirror is { } mirror && Runtime.Random.NextDouble() * 100 < route.MirrorPercentage)
        {
            MirrorSender.Start(this, request, uri, mirror, service); // copies the request, body included
            mirrored = true;
        }

        var activity = MeshSpans.StartCall(request, uri, service.Name, route.Name);
        var telemetry = Runtime.Telemetry;
        var setHost = SetHost(request, uri);
        var statusCode = 0;
        HttpResponseMessage? response = null;
        CancellationTokenSource? deadlineSource = null;
        CancellationTokenRegistration callerRegistration = default;
        RateLimitLease? lease = null;
        try
        {
            var callToken = cancellationToken;
            if (deadline != 0)
            {
                if (time.GetTimestamp() >= deadline)
                {
                    // The inbound caller's budget is already spent: do not start work nobody will wait for.
                    throw DeadlineExceeded(call, time);
                }

                // The deadline's own token source, cancelled by its timer or by the caller's token.
                deadlineSource = _timeouts.Rent(call.Remaining(time), cancellationToken, out callerRegistration);
                callToken = deadlineSource.Token;
                if (callersDeadline)
                {
                    call.UnjudgedToken = callToken;
                }
            }

            var retry = route.Retry;
            var random = Runtime.Random;
            if (!grpc)
            {
                call.IsReplayable = RequestBody.CanSendAgain(request.Content);
            }
            else if (retry.Attempts > 0)
            {
                var content = request.Content;
                if (GrpcRequestBody.IsInMemory(content))
                {
                    call.IsReplayable = true;
                }
                else if (GrpcRequestBody.IsSingleMessage(content!))
                {
                    await content!.LoadIntoBufferAsync(callToken).ConfigureAwait(false);
                    call.IsReplayable = true;
                }
            }

            // Envoy's fault filter sits before its router: the faults meet the call once, before its first attempt,
            // and an injected abort is the caller's answer, which no retry undoes. The call's deadline counts the
            // delay. A caller already gone meets no fault: the first attempt ends the call without a trace (below).
            var delayed = false;
            if (route.Fault is { PerAttempt: false } callFault && !callToken.IsCancellationRequested)
            {
                if (callFault.ShouldDelay(random))
                {
                    telemetry.RecordFault(service.Name, route.Name, "delay");
                    try
                    {
                        await Task.Delay(callFault.Delay, time, callToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException ex)
                    {
                        throw Translate(ex, call, time, callToken, cancellationToken);
                    }

                    delayed = true;
                }

                if (callFault.ShouldAbort(random))
                {
                    telemetry.RecordFault(service.Name, route.Name, "abort");
                    response = callFault.CreateAbortResponse(request);
                }
            }

            // The service's overflow limit: one slot per call, its retries included, held until the response headers
            // are returned or the call fails, the end of the call this method sees. Not the end of the body: a
            // response its caller never reads to the end nor disposes would hold the slot for good. Beyond the slots
            // and the queue the call is answered at once; in the queue it waits until its deadline or its caller
            // gives up.
            if (response is null && service.ConnectionPool is { } pool && !callToken.IsCancellationRequested)
            {
                var acquiring = pool.Limiter.AcquireAsync(1, callToken);
                delayed |= !acquiring.IsCompleted;
                try
                {
                    lease = await acquiring.ConfigureAwait(false);
                }
                catch (OperationCanceledException ex)
                {
                    throw Translate(ex, call, time, callToken, cancellationToken);
                }

                if (!lease.IsAcquired)
                {
                    telemetry.RecordOverflow(service.Name);
                    var reason = pool.Describe(service.Name);
                    activity?.SetStatus(ActivityStatusCode.Error, reason);
                    response = MeshAnswers.Unavailable(request, grpc, MeshAnswers.Overflow, reason);
                }
            }

            // An answer made before the first attempt (an injected abort, an overflow) skips the attempts; each retry
            // starts with no response, so the condition holds for every later round.
            for (var attempt = 1; response is null; attempt++)
            {
                call.Attempts = attempt;
                response = null;
                Exception? error = null;
                var tracker = new AttemptTracker(service.Outliers, time);
                CancellationTokenSource? perTrySource = null;
                CancellationTokenRegistration perTryRegistration = default;
                var perTryStart = 0L; // when the per-try timeout started, if before the request leaves; 0: as it leaves
                try
                {
                    // A caller already gone or a deadline already passed (during the backoff, say): no attempt at all,
                    // so no fault, no pick, no breaker probe and no round-trip sample for an endpoint never asked.
                    callToken.ThrowIfCancellationRequested();
                    var attemptToken = callToken;
                    if (retry.PerTryTimeout is { } perTry)
                    {
                        perTrySource = _timeouts.Rent(perTry, callToken, out perTryRegistration);
                        attemptToken = perTrySource.Token;
                    }

                    if (route.Fault is { PerAttempt: true } fault)
                    {
                        if (fault.ShouldDelay(random))
                        {
                            telemetry.RecordFault(service.Name, route.Name, "delay");
                            if (perTrySource is not null)
                            {
                                // The per-try timeout runs during the delay: the next hop gets what is left of it.
                                perTryStart = time.GetTimestamp();
                            }

                            await Task.Delay(fault.Delay, time, attemptToken).ConfigureAwait(false);
                            delayed = true;
                        }

                        if (fault.ShouldAbort(random))
                        {
                            telemetry.RecordFault(service.Name, route.Name, "abort");
                            response = fault.CreateAbortResponse(request);
                        }
                    }

                    if (response is null && route.Hedging is not null && HedgedAttempts.CanHedge(call))
                    {
                        var hedged = new HedgedAttempts(this, call, activity, _clientName);
                        try
                        {
                            response = await hedged.SendAsync(perTryStart, attemptToken).ConfigureAwait(false);
                        }
                        finally
                        {
                            call.CurrentEndpoint = hedged.Endpoint ?? call.CurrentEndpoint;
                        }
                    }
                    else if (response is null)
                    {
                        var pick = call.Destination.Picker.Pick(request, call.PreviousEndpoint, service.Breaker, _clientName);
                        if (pick.Endpoint is { } endpoint)
                        {
                            call.CurrentEndpoint = endpoint;
                        }

                        if (!pick.Succeeded)
                        {
                            error = PickError(pick.Failure, call);
                        }
                        else
                        {
                            tracker.Picked(pick);
                            call.Destination.Locality?.OnAttempt(pick.Endpoint!);
                            StartAttempt(request, uri, pick.Endpoint!, activity);

                            // One clock read serves both the next hop's budget and the attempt's round-trip time. The
                            // first attempt reuses the call's start unless a fault delay, a wait for a ConnectionPool
                            // slot or a mirror's copy of the request came in between: clock reads are a noticeable
                            // share of the mesh's cost under load (load-profile-cpu.sh), and what is left in between
                            // (route match, pick, rewrite, spans when traced) is microseconds at most and the same for
                            // every endpoint, so the latency average still compares endpoints fairly.
                            var attemptStart = attempt == 1 && !delayed && !mirrored ? start : time.GetTimestamp();
                            if (deadline != 0 || retry.PerTryTimeout is not null)
                            {
                                SetTimeoutHeader(request, call, attemptStart, perTryStart, time);
                            }

                            tracker.Sending(attemptStart);
                            response = await base.SendAsync(request, attemptToken).ConfigureAwait(false);
                            var status = (int)response.StatusCode;
                            tracker.Completed(status);
                        }
                    }
                }
                catch (Exception ex)
                {
                    tracker.Failed(callerGaveUp: ex is OperationCanceledException && call.UnjudgedToken.IsCancellationRequested);

                    error = AttemptError(ex, perTrySource, retry, callToken);
                }
                finally
                {
                    if (perTrySource is not null)
                    {
                        _timeouts.Return(perTrySource, perTryRegistration);
                    }
                }

                if (attempt > retry.Attempts || !ShouldRetry(response, error, call, time, callToken))
                {
                    if (error is NoEndpointException or CircuitOpenException)
                    {
                        // Nothing to send the last attempt to: the caller gets Envoy's answer, not an exception.
                        activity?.SetStatus(ActivityStatusCode.Error, error.Message);
                        response = MeshAnswers.Unavailable(request, grpc, MeshAnswers.NoHealthyUpstream, error.Message);
                    }
                    else if (error is not null)
                    {
                        throw Translate(error, call, time, callToken, cancellationToken);
                    }

                    break;
                }

                var wait = RetryRules.Backoff(attempt - 1, response, call.Deadline, retry, time, random);
                call.PreviousEndpoint = call.CurrentEndpoint;
                telemetry.RecordRetry(service.Name, route.Name);
                MeshSpans.AttemptRetried(activity, attempt, call.PreviousEndpoint, response, error);
                response?.Dispose();
                response = null;
                try
                {
                    await Task.Delay(wait, time, callToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException ex)
                {
                    throw Translate(ex, call, time, callToken, cancellationToken);
                }
            }

            statusCode = (int)response!.StatusCode;
            if (grpc && deadline != 0 && statusCode == 200 && !GrpcResponses.IsTrailersOnly(response))
            {
                // The messages follow the headers: the deadline (the route's timeout) covers them too, as Envoy's does.
                var remaining = call.Remaining(time);
                response.Content = new GrpcDeadlineContent(response, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, time, service.Name, route.Name);
            }
        }
        catch (Exception ex) when (grpc && !cancellationToken.IsCancellationRequested && IsDeadlineExceeded(ex))
        {
            // A gRPC client reads a status, not an exception: a call out of time is answered trailers-only
            // DEADLINE_EXCEEDED, as Envoy does.
            response = GrpcResponses.TrailersOnly(request, GrpcResponses.DeadlineExceeded, ex.Message, "timeout");
            statusCode = 200;
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity.SetTag("error.type", ex.GetType().FullName);
            throw;
        }
        finally
        {
            lease?.Dispose();
            if (deadlineSource is not null)
            {
                _timeouts.Return(deadlineSource, callerRegistration);
            }

            request.RequestUri = uri;
            if (setHost)
            {
                request.Headers.Host = null;
            }

            if (grpc && (deadline != 0 || route.Retry.PerTryTimeout is not null))
            {
                // The attempts wrote the next hop's budget over the caller's grpc-timeout. A handler above the mesh
                // that sends this message again (a resilience handler's retry) would otherwise hand the mesh its own
                // budget as the caller's deadline, and running out of it would judge no endpoint.
                request.Headers.Remove(MeshHeaders.GrpcTimeout);
                if (callersGrpcTimeout is not null)
                {
                    request.Headers.TryAddWithoutValidation(MeshHeaders.GrpcTimeout, callersGrpcTimeout);
                }
            }

            // A gRPC status in the trailers is known only at the end of the body: the span and the metrics wait for it there.
            if (statusCode == 0 || !GrpcResponseContent.TryDefer(response!, activity, telemetry, call, time))
            {
                // Read only when someone listens: the response's header table may not exist yet.
                var grpcStatus = activity is not null || telemetry.RequestsEnabled ? GrpcStatus(response) : string.Empty;
                MeshSpans.CallEnded(activity, statusCode, grpcStatus);
                if (telemetry.RequestsEnabled)
                {
                    RecordCall(telemetry, call, statusCode, grpcStatus, ResponseBytes(response), time);
                }

                activity?.Dispose();
            }
        }

        // Each hop is a call of its own (its route, attempts, metrics and span) and ends above: the lease, the deadline
        // and the Host go back first, and a relative Location resolves against the caller's URI restored there.
        if (Redirects.MayRedirect(statusCode) && maxRedirects != 0)
        {
            return await Redirects.FollowAsync(this, request, response!, maxRedirects, synchronous: false, cancellationToken).ConfigureAwait(false);
        }

        return response!;
    }

    /// <summary>
    /// The Host every attempt keeps: the one the caller used. Returns whether Host was set here (and must be removed
    /// again after the call). Who calls is not sent: the destination's labels come only from the caller's certificate.
    /// </summary>
    private static bool SetHost(HttpRequestMessage request, Uri uri)
    {
        // The backend sees the name the caller used (reviews or reviews:8080), not the endpoint's address, as behind
        // Envoy: virtual hosting and generated links keep working. A Host the caller set itself is left alone.
        var setHost = request.Headers.Host is null;
        if (setHost)
        {
            request.Headers.Host = uri.IsDefaultPort ? uri.IdnHost : uri.Authority;
        }

        return setHost;
    }

    internal static void RecordCall(MeshTelemetry telemetry, in MeshCall call, int statusCode, string grpcStatus, long responseBytes, TimeProvider time)
    {
        var endpoint = call.CurrentEndpoint;
        // An endpoint's version is its registration's word: the label is bounded by the service's model.
        var version = endpoint is not null
            ? call.Service.MetricVersions.Label(endpoint.Version)
            : call.Destination.Subset.Length > 0 ? call.Destination.Subset : "unknown";
        telemetry.RecordRequest(call.Service.Name, version, call.Route.Name, statusCode, grpcStatus,
            mutualTls: endpoint is not null && endpoint.Address.Scheme == Uri.UriSchemeHttps, RequestBytes(call.Request),
            responseBytes, time.GetElapsedTime(call.StartTimestamp).TotalSeconds);
    }

    /// <summary>Why the attempt was not sent: retried whatever the method, and the reason a last one answers 503 with.</summary>
    internal static HttpRequestException PickError(PickFailure failure, in MeshCall call) => failure == PickFailure.CircuitOpen
        ? new CircuitOpenException($"The circuit breaker of every tried endpoint of service '{call.Service.Name}' is open.")
        : new NoEndpointException(
            $"Service '{call.Service.Name}' has no endpoint{(call.Destination.Subset.Length > 0 ? $" in subset '{call.Destination.Subset}'" : string.Empty)}.");

    private bool ShouldRetry(HttpResponseMessage? response, Exception? error, in MeshCall call, TimeProvider time, CancellationToken callToken)
    {
        if (callToken.IsCancellationRequested ||
            !RetryRules.IsRetriable(response, error, call.IsIdempotent, call.IsReplayable, call.IsGrpc, call.Deadline, call.Route.Retry, time))
        {
            return false;
        }

        if (call.Service.Budget.TryWithdraw())
        {
            return true;
        }

        Runtime.Telemetry.RecordBudgetExhausted(call.Service.Name);
        return false;
    }

    /// <summary>Points the request at the attempt's endpoint, notes it on the call's span and writes the trace context.</summary>
    private static void StartAttempt(HttpRequestMessage request, Uri uri, EndpointState endpoint, Activity? activity)
    {
        request.RequestUri = EndpointUri.Rewrite(endpoint, uri);
        MeshSpans.AttemptStarted(activity, endpoint);
        MeshSpans.InjectTraceContext(request);
    }

    /// <summary>
    /// The attempt's failure for the retry rules: a cancellation by the per-try timer alone (the call still has time)
    /// is a per-try timeout, anything else is what it is.
    /// </summary>
    private static Exception AttemptError(Exception ex, CancellationTokenSource? perTrySource, RetryModel retry, CancellationToken callToken) =>
        ex is OperationCanceledException && perTrySource is { IsCancellationRequested: true } && !callToken.IsCancellationRequested
            ? new AttemptTimeoutException($"The attempt ran past the route's per-try timeout of {retry.PerTryTimeout!.Value.TotalMilliseconds:F0} ms.", ex)
            : ex;

    /// <summary>
    /// The next hop gets what this attempt has left at <paramref name="now"/>: the call's remaining time, or what is
    /// left of the per-try timeout (started at <paramref name="perTryStart"/>, 0 for now) if shorter.
    /// </summary>
    internal static void SetTimeoutHeader(HttpRequestMessage request, in MeshCall call, long now, long perTryStart, TimeProvider time)
    {
        var remaining = call.Deadline == 0 ? TimeSpan.MaxValue : time.GetElapsedTime(now, call.Deadline);
        if (call.Route.Retry.PerTryTimeout is { } perTry)
        {
            if (perTryStart != 0)
            {
                perTry -= time.GetElapsedTime(perTryStart, now);
            }

            if (perTry < remaining)
            {
                remaining = perTry;
            }
        }

        request.Headers.Remove(MeshHeaders.Timeout);
        request.Headers.TryAddWithoutValidation(MeshHeaders.Timeout, call.Route.DeadlineHeaders.Milliseconds(remaining));
        if (call.IsGrpc)
        {
            // A gRPC server reads its deadline from grpc-timeout only. The caller's own value was folded into the
            // call's deadline (see Deadline), so this one is never longer.
            request.Headers.Remove(MeshHeaders.GrpcTimeout);
            request.Headers.TryAddWithoutValidation(MeshHeaders.GrpcTimeout, call.Route.DeadlineHeaders.Grpc(remaining));
        }
    }

    private static long RequestBytes(HttpRequestMessage request) => request.Content?.Headers.ContentLength ?? 0;

    /// <summary>
    /// The response's declared Content-Length, parsed from the raw header: the typed <c>ContentLength</c> would store
    /// a parsed copy (a header entry and a boxed long) in the response on every call.
    /// </summary>
    internal static long ResponseBytes(HttpResponseMessage? response) =>
        response is not null && response.Content.Headers.NonValidated.TryGetValues("Content-Length", out var values) && values.Count == 1 &&
        long.TryParse(values.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            ? length
            : 0;

    /// <summary>The gRPC status when it came in the headers (a trailers-only response, e.g. an error); empty otherwise.</summary>
    private static string GrpcStatus(HttpResponseMessage? response) =>
        response is not null && response.Headers.NonValidated.TryGetValues(MeshHeaders.GrpcStatus, out var values) && values.Count == 1
            ? values.ToString()
            : string.Empty;

    /// <summary>
    /// The call's deadline timestamp (0 for none): the earliest of the route's timeout, the inbound request's deadline
    /// and, for a gRPC request (<paramref name="grpcRequest"/>), the <c>grpc-timeout</c> its caller set.
    /// <paramref name="callersDeadline"/> says whether the caller chose it (one of the latter two, earlier than the
    /// route's): running out of it then judges no endpoint. <paramref name="callersGrpcTimeout"/> is the request's own
    /// <c>grpc-timeout</c> as the caller wrote it, put back after the call.
    /// </summary>
    private static long Deadline(TimeSpan? routeTimeout, long now, TimeProvider time, HttpRequestMessage? grpcRequest, out bool callersDeadline,
        out string? callersGrpcTimeout)
    {
        callersDeadline = false;
        callersGrpcTimeout = null;
        var deadline = 0L;
        if (routeTimeout is { } timeout)
        {
            deadline = now + (long)(timeout.TotalSeconds * time.TimestampFrequency);
        }

        if (grpcRequest is not null && grpcRequest.Headers.NonValidated.TryGetValues(MeshHeaders.GrpcTimeout, out var values) &&
            (callersGrpcTimeout = values.ToString()) is { } written && values.Count == 1 && GrpcTimeout.TryParse(written, out var callerTimeout))
        {
            var callerDeadline = now + (long)(callerTimeout.TotalSeconds * time.TimestampFrequency);
            if (deadline == 0 || callerDeadline < deadline)
            {
                deadline = callerDeadline;
                callersDeadline = true;
            }
        }

        var inbound = MeshDeadline.Value;
        if (inbound != 0 && (deadline == 0 || inbound < deadline))
        {
            deadline = inbound;
            callersDeadline = true;
        }

        return deadline;
    }

    /// <summary>
    /// What the caller sees of the last attempt's failure: running out of time (the call's deadline, or a per-try
    /// timeout with no retry left) looks like HttpClient's own timeout; anything else is thrown as it was.
    /// </summary>
    private static Exception Translate(Exception ex, in MeshCall call, TimeProvider time, CancellationToken callToken, CancellationToken cancellationToken)
    {
        switch (ex)
        {
            case AttemptTimeoutException:
                return DeadlineExceeded(call, time);
            case OperationCanceledException when !cancellationToken.IsCancellationRequested &&
                (callToken.IsCancellationRequested || (call.Deadline != 0 && time.GetTimestamp() >= call.Deadline)):
                // The deadline's token fired (its timer rounds to milliseconds, so it may beat the deadline's exact
                // timestamp) or the time is simply up.
                return DeadlineExceeded(call, time);
            default:
                ExceptionDispatchInfo.Capture(ex).Throw();
                return ex;
        }
    }

    /// <summary>Whether <paramref name="ex"/> is the mesh's own deadline (<see cref="DeadlineExceeded"/>'s shape).</summary>
    private static bool IsDeadlineExceeded(Exception ex) =>
        ex is TaskCanceledException { InnerException: TimeoutException { Message: DeadlinePassed } };

    /// <summary>Shaped like HttpClient's own timeout: a cancellation whose inner exception is a TimeoutException.</summary>
    private static TaskCanceledException DeadlineExceeded(in MeshCall call, TimeProvider time) =>
        new($"The call to service '{call.Service.Name}' (route '{call.Route.Name}') ran out of time after {time.GetElapsedTime(call.StartTimestamp).TotalMilliseconds:F0} ms and {call.Attempts} attempt(s).",
            new TimeoutException(DeadlinePassed));

    private static HttpResponseMessage NoRouteResponse(HttpRequestMessage request, ServiceModel service) =>
        new(HttpStatusCode.NotFound)
        {
            RequestMessage = request,
            Content = new StringContent($"No route of mesh service '{service.Name}' matches {request.Method} {request.RequestUri?.AbsolutePath}."),
            Headers = { { MeshHeaders.Fault, "no-route" } },
        };
}
