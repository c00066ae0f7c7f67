using System.Globalization;

namespace Mesh.Registry.Watches;

/// <summary>Parses a watch's <c>wait</c>: a number with a unit, <c>ms</c>, <c>s</c>, <c>m</c> or <c>h</c> (a bare number is seconds).</summary>
internal static class WatchWait
{
    public static bool TryParse(string? text, out TimeSpan wait)
    {
        wait = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text) || text.Length > 32)
        {
            return false;
        }

        var (number, scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ when text.EndsWith('h') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) ||
            !double.IsFinite(value) || value * scale > TimeSpan.FromDays(1).TotalSeconds)
        {
            return false;
        }

        wait = TimeSpan.FromSeconds(value * scale);
        return true;
    }
}
