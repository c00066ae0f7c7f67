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
    }
}
