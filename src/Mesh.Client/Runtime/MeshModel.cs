using System.Collections.Frozen;

namespace Mesh.Client.Runtime;

/// <summary>Everything the mesh knows at one moment; replaced whole, never changed.</summary>
internal sealed class MeshModel(FrozenDictionary<string, ServiceModel> services, MeshOptions options)
{
    public static readonly MeshModel Empty = new(FrozenDictionary<string, ServiceModel>.Empty, new MeshOptions());

    public FrozenDictionary<string, ServiceModel> Services { get; } = services;

    public MeshOptions Options { get; } = options;
}
