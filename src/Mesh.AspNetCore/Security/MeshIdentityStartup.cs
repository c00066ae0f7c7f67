using Mesh.Client.Hosting;
using Microsoft.Extensions.Hosting;

namespace Mesh.AspNetCore.Security;

/// <summary>Gets the workload's first certificate before the server starts taking connections (bounded wait).</summary>
internal sealed class MeshIdentityStartup(MeshServerSecurity security) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => security.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
