namespace Mesh.Registry;

internal static class RegistryDefaults
{
    public const string Url = "http://127.0.0.1:7400";

    /// <summary>Policy documents are small; anything larger is a mistake or an attack.</summary>
    public const long MaxPolicyBytes = 256 * 1024;
}
