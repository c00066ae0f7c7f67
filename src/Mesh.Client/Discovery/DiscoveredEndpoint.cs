namespace Mesh.Client.Discovery;

/// <summary>An endpoint as a discovery source reports it.</summary>
internal sealed record DiscoveredEndpoint(Uri Address, IReadOnlyDictionary<string, string> Labels, string? Zone);
