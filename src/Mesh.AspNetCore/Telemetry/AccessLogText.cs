using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// A caller-written value (the decoded path, <c>User-Agent</c>, <c>x-request-id</c>, the authority) made safe for one
/// access log line: control characters (a newline would start a forged line; an escape sequence would drive the
/// reader's terminal), the double quote that closes a quoted field, and the backslash that starts an escape are
/// written as <c>\xNN</c> or <c>\uNNNN</c>. A value without them is returned as it is.
/// </summary>
internal static class AccessLogText
{
    private static readonly SearchValues<char> Unsafe = SearchValues.Create(UnsafeCharacters());

    /// <summary>
    /// The request's decoded path, escaped: for the access log, and for the lines that log a refused request (an
    /// authorization denial, a rate limit), whose caller may be the one forging.
    /// </summary>
    public static string Path(HttpRequest request) => Escape(request.Path.Value ?? "/");

    public static string Escape(string value)
    {
        if (value.AsSpan().IndexOfAny(Unsafe) < 0)
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 16);
        foreach (var c in value)
        {
            if (Unsafe.Contains(c))
            {
                builder.Append(c <= '\u00ff'
                    ? string.Create(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}")
                    : string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"));
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    private static string UnsafeCharacters()
    {
        var chars = new StringBuilder("\"\\\u2028\u2029");
        for (var c = '\0'; c <= '\u009f'; c++)
        {
            if (char.IsControl(c))
            {
                chars.Append(c);
            }
        }

        return chars.ToString();
    }
}
