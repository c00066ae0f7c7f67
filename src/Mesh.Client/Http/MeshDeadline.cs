using Mesh.Client.Internal;

namespace Mesh.Client.Http;

/// <summary>
/// The deadline of the inbound request being served, as a timestamp of the mesh's <see cref="TimeProvider"/>.
/// Set by the inbound middleware; every outbound mesh call made while serving the request is bounded by it.
/// </summary>
internal static class MeshDeadline
{
    private static readonly AsyncLocal<long> Current = new();

    public static long Value => Current.Value;

    public static void Set(long deadline) => Current.Value = deadline;

    /// <summary>Parses a remaining-milliseconds header value, clamped to [0, one day]; false for garbage.</summary>
    public static bool TryParseBudget(ReadOnlySpan<char> text, out TimeSpan budget)
    {
        budget = default;
        if (text.IsEmpty || text.Length > 19 ||
            !long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var ms))
        {
            return false;
        }

        budget = TimeSpan.FromMilliseconds(Math.Clamp(ms, 0, (long)TimeLeft.MaxBudget.TotalMilliseconds));
        return true;
    }
}
