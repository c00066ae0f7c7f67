using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// Starts the Prometheus exporter when the host starts, if <c>MapMeshEndpoints()</c> mapped <c>/metrics</c>: then it
/// listens from the first request on. Not at mapping time, because making the exporter reads the mesh options, and
/// bad options must fail the host's start with every error listed, not the call that maps endpoints. An app without
/// <c>/metrics</c> never pays for the listener.
/// </summary>
internal sealed class MeshMetricsEndpoint(IServiceProvider services) : IHostedService
{
    public bool Mapped { get; set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Mapped)
        {
            services.GetRequiredService<PrometheusExporter>();
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
