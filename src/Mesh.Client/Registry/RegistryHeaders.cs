namespace Mesh.Client.Registry;

/// <summary>The header carrying the watch index on every watchable response.</summary>
public static class RegistryHeaders
{
    public const string Index = "X-Mesh-Index";
}
