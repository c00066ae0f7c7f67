using System.Net;
using Mesh.Client.Grpc;
using Mesh.Client.Internal;

namespace Mesh.Client.Faults;

/// <summary>
/// A route's fault settings, resolved from options. Applied once per call before its first attempt, or with
/// <see cref="PerAttempt"/> to every attempt before an endpoint is picked.
/// </summary>
internal sealed class FaultInjection
{
    public FaultInjection(FaultOptions options)
    {
        DelayPercentage = options.Delay?.Percentage ?? 0;
        Delay = options.Delay?.FixedDelay ?? TimeSpan.Zero;
        AbortPercentage = options.Abort?.Percentage ?? 0;
        HttpStatus = options.Abort?.HttpStatus;
        GrpcStatus = options.Abort?.GrpcStatus;
        PerAttempt = options.PerAttempt;
    }

    /// <summary>Every attempt meets the faults (retries included), instead of the call once.</summary>
    public bool PerAttempt { get; }

    public double DelayPercentage { get; }

    public TimeSpan Delay { get; }

    public double AbortPercentage { get; }

    public int? HttpStatus { get; }

    public int? GrpcStatus { get; }

    public bool ShouldDelay(RandomSource random) => DelayPercentage > 0 && random.NextDouble() * 100 < DelayPercentage;

    public bool ShouldAbort(RandomSource random) => AbortPercentage > 0 && random.NextDouble() * 100 < AbortPercentage;

    /// <summary>The response an aborted call (or attempt) gets; the backend never sees the request.</summary>
    public HttpResponseMessage CreateAbortResponse(HttpRequestMessage request)
    {
        if (GrpcStatus is { } grpc)
        {
            // A gRPC error is HTTP 200 with the status in a trailers-only response, which arrives as headers.
            return GrpcResponses.TrailersOnly(request, grpc, "fault injected by mesh policy", "abort");
        }

        var response = new HttpResponseMessage((HttpStatusCode)(HttpStatus ?? 503)) { RequestMessage = request, Version = request.Version };
        response.Content = new StringContent("fault injected by mesh policy");
        response.Headers.TryAddWithoutValidation(MeshHeaders.Fault, "abort");
        return response;
    }
}
