using Mesh.Client.Http;
using Mesh.Client.Runtime;
using Mesh.Client.Security;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Meshes single clients.</summary>
public static class MeshHttpClientBuilderExtensions
{
    /// <summary>
    /// Meshes this client: requests to mesh services are routed, balanced, retried and observed; requests to other
    /// hosts pass through. Registers the mesh's services (bound to the <c>Mesh</c> section) if needed.
    /// </summary>
    public static IHttpClientBuilder AddServiceMesh(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        MeshClientServiceCollectionExtensions.AddMeshCore(builder.Services, section: null, configure: null);
#pragma warning disable CS0618 // The handler builder is the only hook that knows the client's name for clients configured by default.
        builder.ConfigureHttpMessageHandlerBuilder(static handlerBuilder =>
        {
            foreach (var handler in handlerBuilder.AdditionalHandlers)
            {
                if (handler is MeshHandler)
                {
                    return; // meshed already, e.g. by both AddMesh() and AddServiceMesh()
                }
            }

            var runtime = handlerBuilder.Services.GetRequiredService<MeshRuntime>();
            handlerBuilder.AdditionalHandlers.Add(new MeshHandler(runtime, handlerBuilder.Name ?? string.Empty));

            // With mesh TLS on, the transport presents this workload's certificate and verifies mesh servers. A primary
            // handler the client configures itself later (ConfigurePrimaryHttpMessageHandler) still wins. Whichever it
            // is, MeshTransportFilter hides it from GrpcChannel's balancer once the client is configured.
            var security = handlerBuilder.Services.GetRequiredService<MeshSecurity>();
            if (security.Enabled || security.NeedsPlaintextFallback)
            {
                handlerBuilder.PrimaryHandler = security.CreateTransport();
            }
        });
#pragma warning restore CS0618
        return builder;
    }
}
