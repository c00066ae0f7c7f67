using Mesh.Client.Http;
using Mesh.Client.Runtime;
using Mesh.Client.Security;

namespace Mesh.Client;

/// <summary>
/// Makes mesh handlers for code that does not use <c>IHttpClientFactory</c>, such as
/// <c>GrpcChannel.ForAddress("http://ratings", new() { HttpHandler = mesh.CreateHandler() })</c> or
/// <c>ClientWebSocket.ConnectAsync(uri, new HttpMessageInvoker(mesh.CreateHandler()), ct)</c>.
/// Resolve it from the service provider after <c>AddMesh()</c> or <c>AddMeshClient()</c>.
/// </summary>
public sealed class MeshHandlerFactory
{
    private readonly MeshRuntime _runtime;
    private readonly MeshSecurity? _security;

    internal MeshHandlerFactory(MeshRuntime runtime, MeshSecurity? security = null)
    {
        _runtime = runtime;
        _security = security;
    }

    /// <summary>
    /// A mesh handler over a new <see cref="SocketsHttpHandler"/> (with the workload certificate when mesh TLS is on).
    /// The caller owns it and should keep it for the life of the client that uses it, as with any
    /// <see cref="HttpMessageHandler"/>.
    /// </summary>
    /// <param name="name">A name for the client, which keys its per-endpoint circuit breakers.</param>
    public HttpMessageHandler CreateHandler(string name = "default") =>
        CreateHandler(_security?.CreateTransport() ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) }, name);

    /// <summary>
    /// A mesh handler over the given transport handler, which it takes ownership of. The transport is not reachable
    /// through the returned handler's <see cref="DelegatingHandler.InnerHandler"/> chain, so that gRPC's own load
    /// balancer cannot take it over from the mesh. A <see cref="SocketsHttpHandler"/> or <see cref="HttpClientHandler"/> at
    /// the end of its chain no longer follows redirects itself: the mesh follows them (as many as it allowed, none if it
    /// did not), so that a redirect to a mesh service is routed like any other request to it.
    /// </summary>
    public DelegatingHandler CreateHandler(HttpMessageHandler innerHandler, string name = "default")
    {
        ArgumentNullException.ThrowIfNull(innerHandler);
        ArgumentNullException.ThrowIfNull(name);
        // The transport is hidden from GrpcChannel, which would otherwise replace its connections with its own
        // balancer's (see OpaqueTransport).
        var handler = new MeshHandler(_runtime, name) { InnerHandler = OpaqueTransport.Wrap(innerHandler) };
        handler.FollowRedirectsFor(innerHandler);
        return handler;
    }
}
