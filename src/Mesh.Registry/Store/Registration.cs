namespace Mesh.Registry.Store;

/// <summary>The validated content of a registration.</summary>
internal sealed record Registration(string Address, string? Version, string? Zone, Dictionary<string, string> Labels, int TtlSeconds);
