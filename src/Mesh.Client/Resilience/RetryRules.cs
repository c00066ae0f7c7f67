using System.Net;
using System.Net.Http.Headers;
using Mesh.Client.Internal;

namespace Mesh.Client.Resilience;

/// <summary>
/// The retry decisions of a call: whether an attempt's outcome may be retried (conditions, method, Retry-After), how
/// long to wait first (exponential backoff with full jitter, or the server's Retry-After) and what a failure says
/// about whether the request reached the server. They take the call's facts as values (method idempotency, deadline),
/// not the call: the loop that applies them, the mesh handler's, sits above this layer.
/// </summary>
internal static class RetryRules
{
    private const RetryCondition AnyGrpcCondition = RetryCondition.GrpcUnavailable | RetryCondition.GrpcCancelled |
        RetryCondition.GrpcDeadlineExceeded | RetryCondition.GrpcResourceExhausted | RetryCondition.GrpcInternal;

    /// <summary>Without a deadline, a server's Retry-After above this is not waited for.</summary>
    private static readonly TimeSpan MaxRetryAfterWithoutDeadline = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether an attempt that answered <paramref name="response"/> or failed with <paramref name="error"/> may be
    /// retried, for a call whose method is <paramref name="idempotent"/> or not, whose body is
    /// <paramref name="replayable"/> (can be sent again once read) or not and whose deadline timestamp is
    /// <paramref name="deadline"/> (0 for none). An HTTP request is sent again after it may have reached a server only
    /// with a replayable body and an idempotent method (or any with <c>RetryNonIdempotent</c>); a
    /// <paramref name="grpc"/> call, whatever its method (always POST), with a replayable body.
    /// </summary>
    /// <remarks>
    /// A gRPC call is retried as Envoy retries it: only while nothing of the response has reached the caller, that
    /// is on a failure before the response headers (which a gRPC client sees as UNAVAILABLE, so <c>unavailable</c>
    /// retries it too) or on a trailers-only response, whose status is in the headers. A response whose headers came
    /// without a status streams its messages to the caller and is never retried.
    /// </remarks>
    internal static bool IsRetriable(HttpResponseMessage? response, Exception? error, bool idempotent, bool replayable, bool grpc,
        long deadline, RetryModel retry, TimeProvider timeProvider)
    {
        var conditions = retry.Conditions;
        var mayRepeat = replayable && (grpc || idempotent || retry.RetryNonIdempotent);
        if (error is { } ex)
        {
            var unavailable = grpc ? RetryCondition.GrpcUnavailable : RetryCondition.None;
            switch (Classify(ex))
            {
                case FailureKind.NotSent:
                    // The request never left this process: safe to send again whatever the method.
                    return true;
                case FailureKind.ConnectFailure:
                    return conditions.Has(RetryCondition.ConnectFailure | RetryCondition.Status5xx | RetryCondition.GatewayError | unavailable);
                case FailureKind.RefusedStream:
                    // The server refused the stream before processing it: as safe as a connect failure. A body that
                    // cannot be replayed may have been read in part, though.
                    return replayable && conditions.Has(RetryCondition.RefusedStream | RetryCondition.Status5xx | unavailable);
                case FailureKind.Reset:
                    return mayRepeat && conditions.Has(RetryCondition.Reset | RetryCondition.Status5xx | unavailable);
                case FailureKind.PerTryTimeout:
                    return mayRepeat && conditions.Has(RetryCondition.Reset | RetryCondition.Status5xx | RetryCondition.GatewayError);
                default:
                    return false;
            }
        }

        if (response is null || !mayRepeat || !IsRetriableAnswer(response, grpc, conditions))
        {
            return false;
        }

        if (RetryAfter(response, timeProvider) is { } wait)
        {
            // Waiting longer than the caller has left only to time out is pointless: give the answer back now.
            var remaining = TimeLeft.Until(deadline, timeProvider);
            var limit = remaining == Timeout.InfiniteTimeSpan ? MaxRetryAfterWithoutDeadline : remaining;
            return wait < limit;
        }

        return true;
    }

    /// <summary>
    /// Whether <paramref name="response"/> is an answer the route's conditions retry, whatever its Retry-After: for a
    /// hedged group, whether it loses to the hedges still in flight, which need no waiting. The method and the body
    /// must allow a retry (see <see cref="IsRetriable"/>).
    /// </summary>
    internal static bool IsRetriableAnswer(HttpResponseMessage response, bool grpc, RetryConditions conditions)
    {
        if (grpc && response.StatusCode == HttpStatusCode.OK)
        {
            // Trailers-only or nothing: with no status in the headers, messages may already be on their way.
            return TryGetGrpcStatus(response, out var grpcStatus) && conditions.IsRetriableGrpcStatus(grpcStatus);
        }

        var status = (int)response.StatusCode;
        if (status != 200)
        {
            return conditions.IsRetriableStatus(status);
        }

        if (!conditions.Has(AnyGrpcCondition) && !conditions.IsRetriableStatus(200))
        {
            // The common case, a plain 200 on a route that neither retries gRPC errors nor lists 200: nothing can
            // make it retriable, so skip the gRPC status lookup (it touches the content headers, which allocates
            // on a response without content and parses Content-Type on one with it).
            return false;
        }

        return TryGetGrpcStatus(response, out var inHeaders)
            ? conditions.IsRetriableGrpcStatus(inHeaders)
            : conditions.IsRetriableStatus(status);
    }

    /// <summary>
    /// The wait before retry number <paramref name="retryNumber"/> (0 for the first), never past the call's
    /// <paramref name="deadline"/> when the server's Retry-After sets it.
    /// </summary>
    internal static TimeSpan Backoff(int retryNumber, HttpResponseMessage? response, long deadline, RetryModel retry,
        TimeProvider timeProvider, RandomSource random)
    {
        if (response is not null && RetryAfter(response, timeProvider) is { } wait)
        {
            var remaining = TimeLeft.Until(deadline, timeProvider);
            return remaining == Timeout.InfiniteTimeSpan || wait < remaining ? wait : remaining;
        }

        // Exponential backoff with full jitter: uniform in [0, min(max, base * 2^n)].
        var ceiling = Math.Min(retry.MaxDelay.Ticks, retry.BaseDelay.Ticks * (1L << Math.Min(retryNumber, 30)));
        return TimeSpan.FromTicks((long)(random.NextDouble() * ceiling));
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response, TimeProvider timeProvider)
    {
        if (response.StatusCode is not (HttpStatusCode.ServiceUnavailable or HttpStatusCode.TooManyRequests))
        {
            return null;
        }

        RetryConditionHeaderValue? header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - timeProvider.GetUtcNow();
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
    }

    internal static bool TryGetGrpcStatus(HttpResponseMessage response, out int status)
    {
        status = 0;

        // The grpc-status header first: a lookup that rules out almost every response, where Content-Type has to be
        // parsed (and the content created when there is none).
        if (!response.Headers.NonValidated.TryGetValues(MeshHeaders.GrpcStatus, out var values) ||
            !int.TryParse(values.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed))
        {
            return false;
        }

        if (response.Content.Headers.ContentType?.MediaType is not { } media || !media.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        status = parsed;
        return true;
    }

    internal static FailureKind Classify(Exception ex)
    {
        switch (ex)
        {
            case CircuitOpenException:
            case NoEndpointException:
                return FailureKind.NotSent;
            case AttemptTimeoutException:
                return FailureKind.PerTryTimeout;
            case HttpProtocolException { ErrorCode: 0x7 }:
                // HTTP/2 REFUSED_STREAM (and HTTP/3 H3_REQUEST_REJECTED is not 0x7, so this is HTTP/2 only).
                return FailureKind.RefusedStream;
            case HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError }:
                return FailureKind.ConnectFailure;
            case HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded or HttpRequestError.HttpProtocolError or HttpRequestError.Unknown }:
                return FailureKind.Reset;
            case HttpRequestException { InnerException: IOException }:
                return FailureKind.Reset;
            default:
                return FailureKind.Other;
        }
    }
}
