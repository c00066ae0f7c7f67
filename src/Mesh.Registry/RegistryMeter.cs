namespace Mesh.Registry;

internal static class RegistryMeter
{
    /// <summary>The meter every registry instrument is on.</summary>
    public const string Name = "Mesh.Registry";
}
