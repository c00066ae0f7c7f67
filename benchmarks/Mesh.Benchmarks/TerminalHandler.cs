using System.Net;

namespace Mesh.Benchmarks;

/// <summary>
/// The transport every variant ends in: no network, answers 200 synchronously with a new response, shaped as a real
/// transport's: <c>SocketsHttpHandler</c> hands back a response with its content and both header tables already made
/// (here <c>Server</c> and <c>Content-Length: 0</c>), so a handler that reads them creates nothing a real response
/// would not already have. It remembers the last URI it saw so the set-up can prove that the mesh really routed the
/// request to an endpoint.
/// </summary>
public sealed class TerminalHandler : HttpMessageHandler
{
    private static readonly byte[] NoBody = [];

    public Uri? LastUri { get; private set; }

    public long Requests { get; private set; }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        LastUri = request.RequestUri;
        Requests++;
        var response = new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request, Content = new ByteArrayContent(NoBody) };
        response.Headers.TryAddWithoutValidation("Server", "Kestrel");
        response.Content.Headers.TryAddWithoutValidation("Content-Length", "0");
        return Task.FromResult(response);
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        SendAsync(request, cancellationToken).GetAwaiter().GetResult();
}
