namespace Mesh.Client;

/// <summary>An injected abort.</summary>
public sealed class AbortFaultOptions
{
    /// <summary>The share of requests aborted, 0 to 100: of attempts when the fault is <see cref="FaultOptions.PerAttempt"/>.</summary>
    public double Percentage { get; set; }

    /// <summary>The HTTP status of the synthetic response.</summary>
    public int? HttpStatus { get; set; }

    /// <summary>A gRPC status code (1 to 16): the response is HTTP 200 with this <c>grpc-status</c>.</summary>
    public int? GrpcStatus { get; set; }
}
