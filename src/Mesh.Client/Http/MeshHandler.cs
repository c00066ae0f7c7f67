using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.ExceptionServices;
using Mesh.Client.Internal;
using Mesh.Client.LoadBalancing;
using Mesh.Client.Resilience;
using Mesh.Client.Runtime;
using Mesh.Client.Telemetry;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Mesh.Client.Http;

/// <summary>
/// The outbound mesh pipeline as one <see cref="DelegatingHandler"/>. A request to a mesh service is routed, split,
/// retried and timed out by its route's pipeline; each attempt meets the route's faults, picks an endpoint, rewrites
/// the URI to it and reports the outcome. Requests to other hosts pass through untouched.
/// </summary>
internal sealed class MeshHandler : DelegatingHandler
{
    private static readonly Func<ResilienceContext, MeshCall, ValueTask<Outcome<HttpResponseMessage>>> AttemptCallback =
        static (context, call) => call.Handler.AttemptAsync(context, call);

    private static readonly Func<ResilienceContext, MeshCall, ValueTask<Outcome<HttpResponseMessage>>> SendCallback =
        static (context, call) => call.Handler.SendToEndpointAsync(context, call);

    private static readonly Func<string, (CircuitBreakerOptions Options, TimeProvider Time), EndpointBreaker> CreateBreaker =
        static (_, arg) => new EndpointBreaker(arg.Options, arg.Time);

    private readonly string _clientName;

    public MeshHandler(MeshRuntime runtime, string clientName)
    {
        Runtime = runtime;
        _clientName = clientName;
    }

    public MeshRuntime Runtime { get; }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri;
        if (uri is null || !uri.IsAbsoluteUri || !Runtime.TryGetService(uri.Host, out var service))
        {
            return base.SendAsync(request, cancellationToken);
        }

        return SendMeshAsync(request, uri, service, cancellationToken);
    }

    internal Task<HttpResponseMessage> SendToInnerAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.SendAsync(request, cancellationToken);

    private async Task<HttpResponseMessage> SendMeshAsync(HttpRequestMessage request, Uri uri, ServiceSnapshot service, CancellationToken cancellationToken)
    {
        var time = Runtime.TimeProvider;
        var start = time.GetTimestamp();
        var route = service.Match(request);
        if (route is null)
        {
            Runtime.Telemetry.RecordRequest(service.Name, "unknown", "none", 404, string.Empty, mutualTls: false, RequestBytes(request), 0, 0);
            return NoRouteResponse(request, service);
        }

        var deadline = Deadline(route.Timeout, start, time);
        var call = new MeshCall(this, request, uri, service, route, route.PickDestination(Runtime.Random), start, deadline, cancellationToken);
        service.Budget.RecordRequest(start); // the call's start time: saves a clock read

        if (route.Mirror is { } mirror && Runtime.Random.NextDouble() * 100 < route.MirrorPercentage)
        {
            MirrorSender.Start(this, request, uri, mirror, service);
        }

        using var activity = MeshTelemetry.ActivitySource.StartActivity(ActivityKind.Client, name: service.Name);
        if (activity is not null)
        {
            activity.DisplayName = string.Concat(request.Method.Method, " ", service.Name);
            activity.SetTag("http.request.method", request.Method.Method);
            activity.SetTag("url.full", uri.OriginalString);
            activity.SetTag("server.address", uri.IdnHost);
            activity.SetTag("server.port", MeshTelemetry.Box(uri.Port));
            activity.SetTag("mesh.destination.service", service.Name);
            activity.SetTag("mesh.route", route.Name);
        }

        // The backend sees the name the caller used (reviews or reviews:8080), not the endpoint's address, as behind
        // Envoy: virtual hosting and generated links keep working. A Host the caller set itself is left alone.
        var setHost = request.Headers.Host is null;
        if (setHost)
        {
            request.Headers.Host = uri.IsDefaultPort ? uri.IdnHost : uri.Authority;
        }

        // Who calls, for the destination's metrics (reporter="destination"); set once, kept by every attempt.
        var telemetry = Runtime.Telemetry;
        if (telemetry.RequestsEnabled)
        {
            var headers = request.Headers;
            headers.Remove(MeshHeaders.SourceService);
            headers.Remove(MeshHeaders.SourceVersion);
            headers.TryAddWithoutValidation(MeshHeaders.SourceService, telemetry.SourceService);
            headers.TryAddWithoutValidation(MeshHeaders.SourceVersion, telemetry.SourceVersion);
        }

        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(MeshCall.Key, call);
        var statusCode = 0;
        HttpResponseMessage? response = null;
        try
        {
            if (deadline != 0 && time.GetTimestamp() >= deadline)
            {
                // The inbound caller's budget is already spent: do not start work nobody will wait for.
                throw DeadlineExceeded(call, time);
            }

            var outcome = await route.Pipeline.ExecuteOutcomeAsync(AttemptCallback, context, call);
            if (outcome.Exception is { } ex)
            {
                throw Translate(ex, call, time, cancellationToken);
            }

            response = outcome.Result!;
            statusCode = (int)response.StatusCode;
            activity?.SetTag("http.response.status_code", MeshTelemetry.Box(statusCode));
            return outcome.Result!;
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity.SetTag("error.type", ex.GetType().FullName);
            throw;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
            request.RequestUri = uri;
            if (setHost)
            {
                request.Headers.Host = null;
            }

            activity?.SetTag("mesh.attempts", MeshTelemetry.Box(call.Attempts));
            if (telemetry.RequestsEnabled)
            {
                var endpoint = call.CurrentEndpoint;
                var version = endpoint?.Version ?? (call.Destination.Subset.Length > 0 ? call.Destination.Subset : "unknown");
                telemetry.RecordRequest(service.Name, version, route.Name, statusCode, GrpcStatus(response),
                    mutualTls: endpoint is not null && endpoint.Address.Scheme == Uri.UriSchemeHttps, RequestBytes(request),
                    response?.Content.Headers.ContentLength ?? 0, time.GetElapsedTime(start).TotalSeconds);
            }
        }
    }

    private async ValueTask<Outcome<HttpResponseMessage>> AttemptAsync(ResilienceContext context, MeshCall call)
    {
        call.Attempts++;
        var route = call.Route;
        var random = Runtime.Random;
        if (route.Fault is { } fault)
        {
            if (fault.ShouldDelay(random))
            {
                Runtime.Telemetry.RecordFault(call.Service.Name, route.Name, "delay");
                try
                {
                    await Task.Delay(fault.Delay, Runtime.TimeProvider, context.CancellationToken);
                }
                catch (OperationCanceledException ex)
                {
                    return Outcome.FromException<HttpResponseMessage>(ex);
                }
            }

            if (fault.ShouldAbort(random))
            {
                Runtime.Telemetry.RecordFault(call.Service.Name, route.Name, "abort");
                return Outcome.FromResult(fault.CreateAbortResponse(call.Request));
            }
        }

        var picker = call.Destination.Picker;
        var endpoint = picker.Pick(call.Request, call.PreviousEndpoint);
        if (endpoint is null)
        {
            return Outcome.FromException<HttpResponseMessage>(new NoEndpointException(
                $"Service '{call.Service.Name}' has no endpoint{(call.Destination.Subset.Length > 0 ? $" in subset '{call.Destination.Subset}'" : string.Empty)}."));
        }

        if (call.Service.Breaker is not { } breakerOptions)
        {
            call.CurrentEndpoint = endpoint;
            return await SendToEndpointAsync(context, call);
        }

        var breaker = endpoint.Breakers.GetOrAdd(_clientName, CreateBreaker, (breakerOptions, Runtime.TimeProvider));
        if (breaker.IsOpen && picker.Endpoints.Length > 1)
        {
            // The breaker would refuse this attempt; another endpoint is a better use of it.
            var other = picker.Pick(call.Request, endpoint);
            if (other is not null && other != endpoint)
            {
                endpoint = other;
                breaker = endpoint.Breakers.GetOrAdd(_clientName, CreateBreaker, (breakerOptions, Runtime.TimeProvider));
            }
        }

        call.CurrentEndpoint = endpoint;
        return await breaker.Pipeline.ExecuteOutcomeAsync(SendCallback, context, call);
    }

    private async ValueTask<Outcome<HttpResponseMessage>> SendToEndpointAsync(ResilienceContext context, MeshCall call)
    {
        var endpoint = call.CurrentEndpoint!;
        var request = call.Request;
        var time = Runtime.TimeProvider;
        request.RequestUri = EndpointUri.Rewrite(endpoint, call.OriginalUri);

        using var activity = MeshTelemetry.ActivitySource.StartActivity(ActivityKind.Client, name: "attempt");
        if (activity is not null)
        {
            activity.DisplayName = string.Concat(request.Method.Method, " ", call.Service.Name, " attempt");
            activity.SetTag("http.request.resend_count", MeshTelemetry.Box(call.Attempts - 1));
            activity.SetTag("server.address", endpoint.Address.Host);
            activity.SetTag("server.port", endpoint.PortTag);
            activity.SetTag("mesh.destination.version", endpoint.Version);
        }

        InjectTraceContext(request);

        // One clock read serves both the next hop's budget and the attempt's round-trip time (clock reads are a
        // noticeable share of a request's cost on this path).
        var start = time.GetTimestamp();
        if (call.Deadline != 0 || call.Route.Retry.PerTryTimeout is not null)
        {
            // The next hop gets what this attempt has left: the call's remaining time, or the per-try timeout if shorter.
            var remaining = call.Deadline == 0 ? TimeSpan.MaxValue : time.GetElapsedTime(start, call.Deadline);
            if (call.Route.Retry.PerTryTimeout is { } perTry && perTry < remaining)
            {
                remaining = perTry;
            }

            request.Headers.Remove(MeshHeaders.Timeout);
            request.Headers.TryAddWithoutValidation(MeshHeaders.Timeout,
                Math.Max(0, (long)remaining.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        }

        endpoint.OnAttemptStarted();
        try
        {
            var response = await base.SendAsync(request, context.CancellationToken);
            endpoint.OnAttemptCompleted(start, time.GetTimestamp(), DecayTicks(time));
            call.Service.Outliers.Report(endpoint, (int)response.StatusCode);
            activity?.SetTag("http.response.status_code", MeshTelemetry.Box((int)response.StatusCode));
            return Outcome.FromResult(response);
        }
        catch (Exception ex)
        {
            endpoint.OnAttemptFailed(start, time.GetTimestamp(), DecayTicks(time), FailurePenaltyTicks(time));
            // The caller giving up says nothing about the endpoint; a per-try or total timeout (the attempt's token
            // cancelled while the caller's is not) says it was too slow.
            if (!(ex is OperationCanceledException && call.CallerToken.IsCancellationRequested))
            {
                call.Service.Outliers.Report(endpoint, 0);
            }

            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            return Outcome.FromException<HttpResponseMessage>(ex);
        }
    }

    /// <summary>
    /// Writes the current span into the request so that the backend continues the trace. The transport below may
    /// write its own child span over it, which keeps the trace id.
    /// </summary>
    private static void InjectTraceContext(HttpRequestMessage request)
    {
        if (Activity.Current is not { } current)
        {
            return;
        }

        DistributedContextPropagator.Current.Inject(current, request, static (carrier, name, value) =>
        {
            var headers = ((HttpRequestMessage)carrier!).Headers;
            headers.Remove(name);
            headers.TryAddWithoutValidation(name, value);
        });
    }

    private static long RequestBytes(HttpRequestMessage request) => request.Content?.Headers.ContentLength ?? 0;

    /// <summary>The gRPC status when it came in the headers (a trailers-only response, e.g. an error); empty otherwise.</summary>
    private static string GrpcStatus(HttpResponseMessage? response) =>
        response is not null && response.Headers.NonValidated.TryGetValues(MeshHeaders.GrpcStatus, out var values) && values.Count == 1
            ? values.ToString()
            : string.Empty;

    private static double DecayTicks(TimeProvider time) => PeakEwmaPicker.DecayTicks(time);

    /// <summary>A failed attempt counts as a one-second round trip for latency-aware balancing.</summary>
    private static double FailurePenaltyTicks(TimeProvider time) => time.TimestampFrequency;

    private static long Deadline(TimeSpan? routeTimeout, long now, TimeProvider time)
    {
        var deadline = 0L;
        if (routeTimeout is { } timeout)
        {
            deadline = now + (long)(timeout.TotalSeconds * time.TimestampFrequency);
        }

        var inbound = MeshDeadline.Value;
        if (inbound != 0 && (deadline == 0 || inbound < deadline))
        {
            deadline = inbound;
        }

        return deadline;
    }

    private static Exception Translate(Exception ex, MeshCall call, TimeProvider time, CancellationToken cancellationToken)
    {
        switch (ex)
        {
            case TimeoutRejectedException:
                return DeadlineExceeded(call, time);
            case OperationCanceledException when !cancellationToken.IsCancellationRequested && call.Deadline != 0 && time.GetTimestamp() >= call.Deadline:
                return DeadlineExceeded(call, time);
            case BrokenCircuitException:
                return new HttpRequestException(HttpRequestError.ConnectionError,
                    $"The circuit breaker of every tried endpoint of service '{call.Service.Name}' is open.", ex);
            default:
                ExceptionDispatchInfo.Capture(ex).Throw();
                return ex;
        }
    }

    /// <summary>Shaped like HttpClient's own timeout: a cancellation whose inner exception is a TimeoutException.</summary>
    private static TaskCanceledException DeadlineExceeded(MeshCall call, TimeProvider time) =>
        new($"The call to service '{call.Service.Name}' (route '{call.Route.Name}') ran out of time after {time.GetElapsedTime(call.StartTimestamp).TotalMilliseconds:F0} ms and {call.Attempts} attempt(s).",
            new TimeoutException("The mesh deadline of the call passed."));

    private static HttpResponseMessage NoRouteResponse(HttpRequestMessage request, ServiceSnapshot service) =>
        new(HttpStatusCode.NotFound)
        {
            RequestMessage = request,
            Content = new StringContent($"No route of mesh service '{service.Name}' matches {request.Method} {request.RequestUri?.AbsolutePath}."),
            Headers = { { MeshHeaders.Fault, "no-route" } },
        };
}
