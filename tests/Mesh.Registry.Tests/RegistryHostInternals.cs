using Mesh.Registry.Dashboard;
using Mesh.Registry.Rollouts;
using Mesh.Registry.Store;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Registry.Tests;

/// <summary>The registry's internal state behind the shared host, which cannot name internal types itself.</summary>
internal static class RegistryHostInternals
{
    extension(RegistryHost host)
    {
        public IRegistryStore Store => host.App.Services.GetRequiredService<IRegistryStore>();

        public RolloutEngine Rollouts => host.App.Services.GetRequiredService<RolloutEngine>();

        public RolloutTrafficWindows RolloutWindows => host.App.Services.GetRequiredService<RolloutTrafficWindows>();

        public TrafficStatsStore Traffic => host.App.Services.GetRequiredService<TrafficStatsStore>();
    }
}
