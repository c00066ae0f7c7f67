using Microsoft.Extensions.Http;

namespace Mesh.Client.Runtime;

/// <summary>Creates the runtime no later than the first HTTP client, so its configuration is checked by then.</summary>
internal sealed class MeshRuntimeWarmup(MeshRuntime runtime) : IHttpMessageHandlerBuilderFilter
{
    public Action<HttpMessageHandlerBuilder> Configure(Action<HttpMessageHandlerBuilder> next)
    {
        GC.KeepAlive(runtime);
        return next;
    }
}
