namespace Mesh.Client.Http;

/// <summary>
/// Ends the chain of <see cref="DelegatingHandler.InnerHandler"/>s between the mesh handler and the transport, so code
/// that walks the chain cannot reach the transport and take it over. The mesh puts it in front of every transport it
/// sends over: the one <see cref="MeshHandlerFactory"/> makes or is given, and the primary handler of every meshed
/// <c>IHttpClientFactory</c> client.
/// </summary>
/// <remarks>
/// Why: <c>GrpcChannel</c> walks the handler it is given, and when it finds a <see cref="SocketsHttpHandler"/> without
/// a <see cref="SocketsHttpHandler.ConnectCallback"/>, it sets that callback to its own load balancer, whose
/// subchannels connect to the channel's address (the logical name, e.g. <c>greeter</c>, which no DNS knows) instead of
/// the endpoint the mesh picked: every call fails with <c>Unavailable: Error connecting to subchannel</c>. A handler
/// that is not a <see cref="DelegatingHandler"/> makes the transport look custom to gRPC, which then sends through it
/// untouched and leaves connecting and balancing to the mesh. Hiding the transport works for any transport, the
/// app's own included, without changing it; giving the mesh's <see cref="SocketsHttpHandler"/> a connect callback
/// instead would not cover a primary handler the app or Grpc.Net.ClientFactory configures, and setting one on a
/// handler the app owns would change it (and throws once that handler has sent). The cost is two virtual calls.
/// </remarks>
internal sealed class OpaqueTransport : HttpMessageHandler
{
    private readonly Forwarder _forwarder;

    private OpaqueTransport(HttpMessageHandler transport) => _forwarder = new Forwarder(transport);

    /// <summary>The hidden transport: for tests, and for the mesh to take its redirects over (see <see cref="TransportRedirects"/>).</summary>
    internal HttpMessageHandler Transport => _forwarder.InnerHandler!;

    /// <summary>Hides <paramref name="transport"/>, which it takes ownership of; one that is hidden already stays as it is.</summary>
    public static HttpMessageHandler Wrap(HttpMessageHandler transport) =>
        transport as OpaqueTransport ?? new OpaqueTransport(transport);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _forwarder.ForwardAsync(request, cancellationToken);

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _forwarder.Forward(request, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _forwarder.Dispose(); // disposes the transport, as a DelegatingHandler would
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// Reaches the transport's protected <c>SendAsync</c> the only way a handler can, as a <see cref="DelegatingHandler"/>,
    /// kept private so that no chain walk sees it. (An <see cref="HttpMessageInvoker"/> would count each request in
    /// System.Net.Http's request telemetry a second time when the caller is not an <see cref="HttpClient"/>.)
    /// </summary>
    private sealed class Forwarder(HttpMessageHandler transport) : DelegatingHandler(transport)
    {
        public Task<HttpResponseMessage> ForwardAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            SendAsync(request, cancellationToken);

        public HttpResponseMessage Forward(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Send(request, cancellationToken);
    }
}
