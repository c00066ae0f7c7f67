using Microsoft.Extensions.Http;

namespace Mesh.Client.Http;

/// <summary>
/// Hides the primary handler of every meshed <c>IHttpClientFactory</c> client behind an <see cref="OpaqueTransport"/>
/// (see there why). A filter, because it runs after all of the client's configuration: the primary handler may be
/// set after the mesh's own configuration ran, by the app (<c>ConfigurePrimaryHttpMessageHandler</c>) or by
/// Grpc.Net.ClientFactory's <c>AddGrpcClient</c>, which gives its clients a <see cref="SocketsHttpHandler"/>. That
/// handler is still the one that sends; it is only no longer reachable through the chain. It also no longer follows
/// redirects itself: the mesh handler follows them, as many as the primary handler allowed (see <see cref="TransportRedirects"/>).
/// </summary>
internal sealed class MeshTransportFilter : IHttpMessageHandlerBuilderFilter
{
    public Action<HttpMessageHandlerBuilder> Configure(Action<HttpMessageHandlerBuilder> next) => builder =>
    {
        next(builder);
        foreach (var handler in builder.AdditionalHandlers)
        {
            if (handler is MeshHandler mesh && builder.PrimaryHandler is { } primary)
            {
                mesh.FollowRedirectsFor(primary);
                builder.PrimaryHandler = OpaqueTransport.Wrap(primary);
                return;
            }
        }
    };
}
