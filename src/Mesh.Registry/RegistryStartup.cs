using Mesh.Registry.Ca;
using Mesh.Registry.Store;

namespace Mesh.Registry;

/// <summary>Opens the store at start (so a bad store or configuration fails the start), and ends long polls on shutdown.</summary>
internal sealed class RegistryStartup(IRegistryStore store, RegistryAuth auth, CertificateAuthority ca, IHostApplicationLifetime lifetime) : IHostedService
{
    private CancellationTokenRegistration _stopping;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Taking these here opens the store, settles the admin token, hashes the join tokens and loads (or makes) the CA roots
        // before the first request.
        GC.KeepAlive(auth);
        _stopping = lifetime.ApplicationStopping.Register(() =>
        {
            store.StopWatches();
            ca.StopWatches();
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Dispose();
        return Task.CompletedTask;
    }
}
