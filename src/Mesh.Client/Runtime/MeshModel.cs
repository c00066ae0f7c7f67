using System.Collections.Frozen;
using Mesh.Client.Hosting;

namespace Mesh.Client.Runtime;

/// <summary>Everything the mesh knows at one moment; replaced whole, never changed.</summary>
internal sealed class MeshModel(FrozenDictionary<string, ServiceModel> services, InboundModel inbound)
{
    public static readonly MeshModel Empty = new(FrozenDictionary<string, ServiceModel>.Empty, InboundModel.Empty);

    public FrozenDictionary<string, ServiceModel> Services { get; } = services;

    public InboundModel Inbound { get; } = inbound;
}
