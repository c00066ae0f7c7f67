namespace Mesh.Registry;

internal static class RegistryNames
{
    /// <summary>Service names are case-insensitive, like the host names clients call them by, and kept in lower case.</summary>
    public static string Service(string name)
    {
        // Valid names are ASCII; lower-casing them is culture-free.
        return string.Create(name.Length, name, static (span, n) =>
        {
            for (var i = 0; i < n.Length; i++)
            {
                span[i] = char.IsAsciiLetterUpper(n[i]) ? (char)(n[i] | 0x20) : n[i];
            }
        });
    }
}
