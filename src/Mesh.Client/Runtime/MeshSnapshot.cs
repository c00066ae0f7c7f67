using System.Collections.Frozen;

namespace Mesh.Client.Runtime;

/// <summary>Everything the mesh knows at one moment; replaced whole, never changed.</summary>
internal sealed class MeshSnapshot(FrozenDictionary<string, ServiceSnapshot> services, MeshOptions options)
{
    public static readonly MeshSnapshot Empty = new(FrozenDictionary<string, ServiceSnapshot>.Empty, new MeshOptions());

    public FrozenDictionary<string, ServiceSnapshot> Services { get; } = services;

    public MeshOptions Options { get; } = options;
}
