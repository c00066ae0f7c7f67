using System.Globalization;
using Mesh.Client.Internal;

namespace Mesh.Client.Grpc;

/// <summary>
/// The <c>grpc-timeout</c> header of the gRPC wire protocol: at most eight ASCII digits and a unit, <c>H</c> hours,
/// <c>M</c> minutes, <c>S</c> seconds, <c>m</c> milliseconds, <c>u</c> microseconds, <c>n</c> nanoseconds. Anything
/// else is not a timeout, and a gRPC server ignores it; so does the mesh.
/// </summary>
internal static class GrpcTimeout
{
    private const int MaxDigits = 8;
    private const long MaxValue = 99_999_999;

    /// <summary>Parses a header value, clamped to the mesh's largest budget (a day); false for anything malformed.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out TimeSpan timeout)
    {
        timeout = default;
        if (text.Length is < 2 or > MaxDigits + 1)
        {
            return false;
        }

        long value = 0;
        var digits = text[..^1];
        foreach (var c in digits)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        // Ticks per unit; hours and minutes of eight digits overflow no long once clamped below.
        double ticks = text[^1] switch
        {
            'H' => value * (double)TimeSpan.TicksPerHour,
            'M' => value * (double)TimeSpan.TicksPerMinute,
            'S' => value * (double)TimeSpan.TicksPerSecond,
            'm' => value * (double)TimeSpan.TicksPerMillisecond,
            'u' => value * (double)TimeSpan.TicksPerMicrosecond,
            'n' => value / 100.0,
            _ => -1,
        };
        if (ticks < 0)
        {
            return false;
        }

        timeout = TimeSpan.FromTicks((long)Math.Min(ticks, TimeLeft.MaxBudget.Ticks));
        return true;
    }

    /// <summary>
    /// <paramref name="timeout"/> as a header value in the finest unit that fits eight digits, rounded down so the
    /// next hop never gets more time than is left: milliseconds for any budget the mesh passes on (at most a day),
    /// microseconds below a millisecond.
    /// </summary>
    public static string Format(TimeSpan timeout)
    {
        var ticks = Math.Max(0, timeout.Ticks);
        if (ticks < TimeSpan.TicksPerMillisecond)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{ticks / TimeSpan.TicksPerMicrosecond}u");
        }

        var value = ticks / TimeSpan.TicksPerMillisecond;
        if (value <= MaxValue)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{value}m");
        }

        value = ticks / TimeSpan.TicksPerSecond;
        if (value <= MaxValue)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{value}S");
        }

        value = ticks / TimeSpan.TicksPerMinute;
        return value <= MaxValue
            ? string.Create(CultureInfo.InvariantCulture, $"{value}M")
            : string.Create(CultureInfo.InvariantCulture, $"{Math.Min(ticks / TimeSpan.TicksPerHour, MaxValue)}H");
    }
}
