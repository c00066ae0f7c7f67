using System.Net;
using System.Net.Http.Headers;
using Mesh.Client.Http;
using Mesh.Client.Internal;
using Mesh.Client.Routing;
using Mesh.Client.Telemetry;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Mesh.Client.Resilience;

/// <summary>
/// Builds a route's Polly pipeline: total timeout (the call's deadline) → retry (conditions, budget, backoff with
/// full jitter, Retry-After) → per-try timeout. The attempt itself (faults, pick, breaker, send) is the callback.
/// </summary>
internal static class RoutePipelineBuilder
{
    private const RetryCondition AnyGrpcCondition = RetryCondition.GrpcUnavailable | RetryCondition.GrpcCancelled |
        RetryCondition.GrpcDeadlineExceeded | RetryCondition.GrpcResourceExhausted;

    /// <summary>Without a deadline, a server's Retry-After above this is not waited for.</summary>
    private static readonly TimeSpan MaxRetryAfterWithoutDeadline = TimeSpan.FromSeconds(10);

    public static ResiliencePipeline<HttpResponseMessage> Build(RouteRuntime route, RetryBudget budget, string service,
        MeshTelemetry telemetry, TimeProvider timeProvider, RandomSource random)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = timeProvider };

        // Always present: the deadline may come from the inbound request even when the route sets no timeout.
        builder.AddTimeout(new TimeoutStrategyOptions
        {
            TimeoutGenerator = args =>
            {
                var call = args.Context.Properties.GetValue(MeshCall.Key, null!);
                return new ValueTask<TimeSpan>(call.Remaining(timeProvider));
            },
        });

        var retry = route.Retry;
        if (retry.Attempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = retry.Attempts,
                ShouldHandle = args => new ValueTask<bool>(ShouldRetry(args, retry, budget, service, telemetry, timeProvider)),
                DelayGenerator = args => new ValueTask<TimeSpan?>(Backoff(args.AttemptNumber, args.Outcome, args.Context, retry, timeProvider, random)),
                OnRetry = args =>
                {
                    var call = args.Context.Properties.GetValue(MeshCall.Key, null!);
                    call.PreviousEndpoint = call.CurrentEndpoint;
                    telemetry.RecordRetry(service, route.Name);
                    return default;
                },
            });
        }

        if (retry.PerTryTimeout is { } perTry)
        {
            builder.AddTimeout(perTry);
        }

        return builder.Build();
    }

    private static bool ShouldRetry(RetryPredicateArguments<HttpResponseMessage> args, RetryPolicy retry, RetryBudget budget,
        string service, MeshTelemetry telemetry, TimeProvider timeProvider)
    {
        // Polly asks after the last attempt too; answering there must not spend budget.
        if (args.AttemptNumber >= retry.Attempts || args.Context.CancellationToken.IsCancellationRequested)
        {
            return false;
        }

        var call = args.Context.Properties.GetValue(MeshCall.Key, null!);
        if (!IsRetriable(args.Outcome, call, retry, timeProvider))
        {
            return false;
        }

        if (budget.TryWithdraw())
        {
            return true;
        }

        telemetry.RecordBudgetExhausted(service);
        return false;
    }

    internal static bool IsRetriable(Outcome<HttpResponseMessage> outcome, MeshCall call, RetryPolicy retry, TimeProvider timeProvider)
    {
        var conditions = retry.Conditions;
        var mayRepeat = call.IsIdempotent || retry.RetryNonIdempotent;
        if (outcome.Exception is { } ex)
        {
            switch (Classify(ex))
            {
                case FailureKind.NotSent:
                    // The request never left this process: safe to send again whatever the method.
                    return true;
                case FailureKind.ConnectFailure:
                    return conditions.Has(RetryCondition.ConnectFailure | RetryCondition.Status5xx | RetryCondition.GatewayError);
                case FailureKind.RefusedStream:
                    // The server refused the stream before processing it: as safe as a connect failure.
                    return conditions.Has(RetryCondition.RefusedStream | RetryCondition.Status5xx);
                case FailureKind.Reset:
                    return mayRepeat && conditions.Has(RetryCondition.Reset | RetryCondition.Status5xx);
                case FailureKind.PerTryTimeout:
                    return mayRepeat && conditions.Has(RetryCondition.Reset | RetryCondition.Status5xx | RetryCondition.GatewayError);
                default:
                    return false;
            }
        }

        if (outcome.Result is not { } response || !mayRepeat)
        {
            return false;
        }

        var status = (int)response.StatusCode;
        bool retriable;
        if (status != 200)
        {
            retriable = conditions.IsRetriableStatus(status);
        }
        else if (!conditions.Has(AnyGrpcCondition) && !conditions.IsRetriableStatus(200))
        {
            // The common case, a plain 200 on a route that neither retries gRPC errors nor lists 200: nothing can
            // make it retriable, so skip the gRPC status lookup (it touches the content headers, which allocates
            // on a response without content and parses Content-Type on one with it).
            retriable = false;
        }
        else if (TryGetGrpcStatus(response, out var grpc))
        {
            retriable = conditions.IsRetriableGrpcStatus(grpc);
        }
        else
        {
            retriable = conditions.IsRetriableStatus(status);
        }

        if (retriable && RetryAfter(response, timeProvider) is { } wait)
        {
            // Waiting longer than the caller has left only to time out is pointless: give the answer back now.
            var remaining = call.Remaining(timeProvider);
            var limit = remaining == Timeout.InfiniteTimeSpan ? MaxRetryAfterWithoutDeadline : remaining;
            retriable = wait < limit;
        }

        return retriable;
    }

    private static TimeSpan? Backoff(int attemptNumber, Outcome<HttpResponseMessage> outcome, ResilienceContext context,
        RetryPolicy retry, TimeProvider timeProvider, RandomSource random)
    {
        if (outcome.Result is { } response && RetryAfter(response, timeProvider) is { } wait)
        {
            var call = context.Properties.GetValue(MeshCall.Key, null!);
            var remaining = call.Remaining(timeProvider);
            return remaining == Timeout.InfiniteTimeSpan || wait < remaining ? wait : remaining;
        }

        // Exponential backoff with full jitter: uniform in [0, min(max, base * 2^n)].
        var ceiling = Math.Min(retry.MaxDelay.Ticks, retry.BaseDelay.Ticks * (1L << Math.Min(attemptNumber, 30)));
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
            case BrokenCircuitException:
            case NoEndpointException:
                return FailureKind.NotSent;
            case TimeoutRejectedException:
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

internal enum FailureKind
{
    Other,
    NotSent,
    ConnectFailure,
    RefusedStream,
    Reset,
    PerTryTimeout,
}

/// <summary>No endpoint of the destination could be picked: the request was never sent.</summary>
internal sealed class NoEndpointException(string message) : HttpRequestException(HttpRequestError.ConnectionError, message);
