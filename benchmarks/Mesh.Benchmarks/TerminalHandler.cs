using System.Net;

namespace Mesh.Benchmarks;

/// <summary>
/// The transport every variant ends in: no network, answers 200 synchronously with a new response, as a real
/// transport would hand back a new response per request. It remembers the last URI it saw so the set-up can prove
/// that the mesh really routed the request to an endpoint.
/// </summary>
public sealed class TerminalHandler : HttpMessageHandler
{
    public Uri? LastUri { get; private set; }

    public long Requests { get; private set; }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        LastUri = request.RequestUri;
        Requests++;
        return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request });
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        SendAsync(request, cancellationToken).GetAwaiter().GetResult();
}
