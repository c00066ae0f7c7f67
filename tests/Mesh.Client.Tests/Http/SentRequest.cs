namespace Mesh.Client.Tests.Http;

/// <summary>One request as the transport saw it: its number (from 1), the endpoint it went to and what it carried.</summary>
internal sealed record SentRequest(
    int Number,
    string Endpoint,
    HttpMethod Method,
    string Path,
    string? Host,
    string? TimeoutBudget,
    string? Body,
    CancellationToken Token,
    string? GrpcTimeout = null);
