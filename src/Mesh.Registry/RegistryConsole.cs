namespace Mesh.Registry;

/// <summary>Where the registry prints the generated admin token: standard output, replaceable in tests.</summary>
internal sealed class RegistryConsole(TextWriter writer)
{
    public TextWriter Out { get; } = writer;
}
