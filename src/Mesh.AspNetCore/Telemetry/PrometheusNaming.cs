using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// Prometheus names and text escaping: instrument <c>mesh.request.duration</c> in seconds is
/// <c>mesh_request_duration_seconds</c>; a counter gets <c>_total</c>.
/// </summary>
internal static class PrometheusNaming
{
    public static string MetricName(Instrument instrument, bool isCounter)
    {
        var name = Sanitize(instrument.Name, allowColon: true);
        var unit = UnitSuffix(instrument.Unit);
        if (unit is not null && !name.EndsWith("_" + unit, StringComparison.Ordinal))
        {
            name += "_" + unit;
        }

        if (isCounter && !name.EndsWith("_total", StringComparison.Ordinal))
        {
            name += "_total";
        }

        return name;
    }

    /// <summary>A label name: letters, digits and '_', not starting with a digit.</summary>
    public static string LabelName(string key) => Sanitize(key, allowColon: false);

    /// <summary>UCUM units the mesh and the OpenTelemetry conventions use, in Prometheus' base-unit words.</summary>
    public static string? UnitSuffix(string? unit) => unit switch
    {
        null or "" or "1" => null,
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "%" => "percent",
        _ when unit.StartsWith('{') => null, // an annotation such as {request} is not a unit
        _ => Sanitize(unit, allowColon: false),
    };

    public static void AppendLabelValue(StringBuilder sb, string value)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append("\\n"); break;
                default: sb.Append(c); break;
            }
        }
    }

    /// <summary>HELP text escapes only backslash and newline.</summary>
    public static string EscapeHelp(string help) => help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    public static void AppendValue(StringBuilder sb, double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            sb.Append("+Inf");
        }
        else if (double.IsNegativeInfinity(value))
        {
            sb.Append("-Inf");
        }
        else if (double.IsNaN(value))
        {
            sb.Append("NaN");
        }
        else
        {
            sb.Append(value.ToString("R", CultureInfo.InvariantCulture));
        }
    }

    private static string Sanitize(string name, bool allowColon)
    {
        var sb = new StringBuilder(name.Length + 1);
        foreach (var c in name)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' || (allowColon && c == ':');
            sb.Append(ok ? c : '_');
        }

        if (sb.Length == 0 || char.IsAsciiDigit(sb[0]))
        {
            sb.Insert(0, '_');
        }

        return sb.ToString();
    }
}
