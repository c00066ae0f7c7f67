namespace Mesh.Registry;

internal static class RegistryDefaults
{
    /// <summary>HTTPS with the registry's own CA; clients pin it by the fingerprint printed at start.</summary>
    public const string Url = "https://127.0.0.1:7400";

    /// <summary>
    /// The per-user folder of the registry's state: <c>MeshLib/registry</c> under the local application data folder
    /// (<c>$XDG_DATA_HOME</c> or <c>~/.local/share</c> on Linux, <c>~/Library/Application Support</c> on macOS,
    /// <c>%LOCALAPPDATA%</c> on Windows). Empty when the user has none (no home folder), and then
    /// <c>MeshRegistry:DataPath</c> must be set.
    /// </summary>
    public static string DataDirectory { get; } =
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify) is { Length: > 0 } local
            ? Path.Combine(local, "MeshLib", "registry")
            : "";

    /// <summary>Policy documents are small; anything larger is a mistake or an attack.</summary>
    public const int MaxPolicyBytes = 256 * 1024;

    /// <summary>A registration is an address, a few names and labels.</summary>
    public const int MaxRegistrationBytes = 64 * 1024;

    /// <summary>Kestrel's limit for any request body, a backstop behind the per-endpoint limits.</summary>
    public const int MaxRequestBodyBytes = 1024 * 1024;

    /// <summary>Services one <c>POST /v1/watch</c> may name: twice the largest meshes clients watch whole.</summary>
    public const int MaxWatchedServices = 1000;

    /// <summary>A watch body of <see cref="MaxWatchedServices"/> names of 63 characters, quoted and separated, with room to spare.</summary>
    public const int MaxWatchBodyBytes = 128 * 1024;

    public const int MinTtlSeconds = 1;

    public const int MaxTtlSeconds = 3600;

    public const int MaxAddressLength = 2048;

    public const int MaxLabels = 64;

    public const int MaxLabelValueLength = 256;

    public const int DefaultHistory = 100;

    public const int MaxHistory = 1000;

    /// <summary>Destinations one renewal's traffic numbers may name.</summary>
    public const int MaxStatsDestinations = 128;

    /// <summary>A request count no window of a renewal can reach.</summary>
    public const long MaxStatsCount = 1_000_000_000_000;

    /// <summary>A day: a latency beyond it is a broken clock, not a measurement.</summary>
    public const double MaxStatsMilliseconds = 86_400_000;
}
