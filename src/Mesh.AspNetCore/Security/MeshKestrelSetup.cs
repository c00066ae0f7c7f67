using Mesh.Client.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// Puts mesh TLS on every Kestrel endpoint (through <see cref="KestrelServerOptions.ConfigureEndpointDefaults"/>) when
/// this workload has a mesh identity. Registered ahead of the app's own Kestrel configuration, so the defaults are in
/// place before the app's <c>Listen(...)</c> calls read them. Endpoints are bound as plain <c>http://</c>: the mesh
/// terminates TLS itself (an endpoint that also calls <c>UseHttps()</c> would wrap TLS twice).
/// </summary>
internal sealed class MeshKestrelSetup(IServiceProvider services) : IConfigureOptions<KestrelServerOptions>
{
    public void Configure(KestrelServerOptions options)
    {
        options.ConfigureEndpointDefaults(listen => listen.Use(next =>
        {
            // Runs when the endpoint binds, after the app configured it, so Protocols is final.
            var security = services.GetRequiredService<MeshServerSecurity>();
            if (!security.Enabled)
            {
                return next;
            }

            var logger = services.GetRequiredService<ILogger<MeshTlsConnectionMiddleware>>();
            var time = services.GetRequiredService<TimeProvider>();
            return new MeshTlsConnectionMiddleware(next, security, listen.Protocols, time, logger).OnConnectionAsync;
        }));
    }
}
