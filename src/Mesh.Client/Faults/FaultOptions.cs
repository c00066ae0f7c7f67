namespace Mesh.Client;

/// <summary>Faults a route injects, per attempt, into the requests it matches.</summary>
public sealed class FaultOptions
{
    /// <summary>Delay a share of attempts.</summary>
    public DelayFaultOptions? Delay { get; set; }

    /// <summary>Answer a share of attempts with an error without calling the backend.</summary>
    public AbortFaultOptions? Abort { get; set; }
}

/// <summary>An injected delay.</summary>
public sealed class DelayFaultOptions
{
    /// <summary>The share of attempts delayed, 0 to 100.</summary>
    public double Percentage { get; set; }

    /// <summary>How long each delayed attempt waits before it is sent.</summary>
    public TimeSpan FixedDelay { get; set; }
}

/// <summary>An injected abort.</summary>
public sealed class AbortFaultOptions
{
    /// <summary>The share of attempts aborted, 0 to 100.</summary>
    public double Percentage { get; set; }

    /// <summary>The HTTP status of the synthetic response.</summary>
    public int? HttpStatus { get; set; }

    /// <summary>A gRPC status code (1 to 16): the response is HTTP 200 with this <c>grpc-status</c>.</summary>
    public int? GrpcStatus { get; set; }
}
