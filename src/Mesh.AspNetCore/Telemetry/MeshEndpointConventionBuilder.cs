using Microsoft.AspNetCore.Builder;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>Applies a convention to every endpoint <c>MapMeshEndpoints()</c> maps.</summary>
internal sealed class MeshEndpointConventionBuilder(IEndpointConventionBuilder[] builders) : IEndpointConventionBuilder
{
    public void Add(Action<EndpointBuilder> convention)
    {
        foreach (var builder in builders)
        {
            builder.Add(convention);
        }
    }

    public void Finally(Action<EndpointBuilder> finallyConvention)
    {
        foreach (var builder in builders)
        {
            builder.Finally(finallyConvention);
        }
    }
}
