using Mesh.Client.Registry;

namespace Mesh.Registry.Store;

/// <summary>The validated content of a registration.</summary>
internal sealed record Registration(string Address, string? Version, string? Zone, Dictionary<string, string> Labels, int TtlSeconds)
{
    /// <summary>
    /// The traffic numbers sent with it, for the dashboard; not part of the registration (a change of them is no change).
    /// A shared store keeps them with the lease so every replica's dashboard has them.
    /// </summary>
    public TrafficStats? Traffic { get; init; }
}
