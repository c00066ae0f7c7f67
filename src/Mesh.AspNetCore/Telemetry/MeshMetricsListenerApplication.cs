using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>Runs each request of the metrics listener through its pipeline, in a context from the app's factory (the app's request services).</summary>
internal sealed class MeshMetricsListenerApplication(RequestDelegate pipeline, IHttpContextFactory contexts) : IHttpApplication<HttpContext>
{
    public HttpContext CreateContext(IFeatureCollection contextFeatures) => contexts.Create(contextFeatures);

    public Task ProcessRequestAsync(HttpContext context) => pipeline(context);

    public void DisposeContext(HttpContext context, Exception? exception) => contexts.Dispose(context);
}
