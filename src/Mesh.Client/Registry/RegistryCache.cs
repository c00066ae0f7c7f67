namespace Mesh.Client.Registry;

internal sealed class RegistryCache
{
    public DateTimeOffset SavedAt { get; set; }

    public Dictionary<string, RegistryCacheEntry> Services { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
