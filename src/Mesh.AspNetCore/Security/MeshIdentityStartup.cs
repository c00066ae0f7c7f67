using Mesh.Client.Security;
using Microsoft.Extensions.Hosting;

namespace Mesh.AspNetCore.Security;

/// <summary>Gets the workload's first certificate before the server starts taking connections (bounded wait).</summary>
internal sealed class MeshIdentityStartup(MeshSecurity security) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => security.Identity?.StartAsync(cancellationToken) ?? Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
