using Microsoft.Extensions.Options;

namespace Mesh.Client.Configuration;

/// <summary>Reads the <c>Mesh</c> section with <see cref="MeshConfigurationReader"/>.</summary>
internal sealed class MeshConfigurationSetup(Microsoft.Extensions.Configuration.IConfigurationSection section) : IConfigureOptions<MeshOptions>
{
    public void Configure(MeshOptions options) => MeshConfigurationReader.Read(section, options);
}
