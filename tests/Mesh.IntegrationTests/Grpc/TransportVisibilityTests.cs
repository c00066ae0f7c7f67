using Mesh.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests.Grpc;

/// <summary>
/// What GrpcChannel can see of a handler: it follows <see cref="DelegatingHandler.InnerHandler"/> looking for a
/// <see cref="SocketsHttpHandler"/> to take over. The mesh hides its transports from that walk, and only its own.
/// </summary>
public sealed class TransportVisibilityTests
{
    [Fact]
    public void Meshed_handlers_hide_their_transport_and_unmeshed_factory_clients_keep_theirs_visible()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddHttpClient("plain").ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler());
        services.AddHttpClient("meshed").AddServiceMesh().ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler());
        using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IHttpMessageHandlerFactory>();
        var mesh = provider.GetRequiredService<MeshHandlerFactory>();

        using var plain = factory.CreateHandler("plain");
        using var meshed = factory.CreateHandler("meshed");
        using var created = mesh.CreateHandler();
        using var overTransport = mesh.CreateHandler(new SocketsHttpHandler());

        VisibleSocketsHandler(plain).ShouldNotBeNull("a client the mesh does not handle is left as it is");
        VisibleSocketsHandler(meshed).ShouldBeNull();
        VisibleSocketsHandler(created).ShouldBeNull();
        VisibleSocketsHandler(overTransport).ShouldBeNull();
    }

    /// <summary>The walk of grpc-dotnet's HttpRequestHelpers.GetHttpHandlerType.</summary>
    private static SocketsHttpHandler? VisibleSocketsHandler(HttpMessageHandler handler)
    {
        for (HttpMessageHandler? current = handler; current is not null; current = (current as DelegatingHandler)?.InnerHandler)
        {
            if (current is SocketsHttpHandler sockets)
            {
                return sockets;
            }
        }

        return null;
    }
}
