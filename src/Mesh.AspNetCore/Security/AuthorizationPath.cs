using System.Buffers;

namespace Mesh.AspNetCore.Security;

/// <summary>
/// The path authorization decides on: the request path spelled the way ASP.NET Core routing compares it. Routing
/// matches literal segments case-insensitively and ignores a trailing slash; servers decode percent-escapes (all but
/// <c>%2F</c>) and remove dot segments before routing sees the path. So a rule must hold for every spelling that
/// reaches the same endpoint: <c>/ADMIN/x</c>, <c>/%41dmin/x</c>, <c>/admin/./x</c>, <c>/y/../admin/x</c>,
/// <c>/admin//x</c> and <c>/admin/x/</c> all compare as <c>/admin/x</c> (case is left to the comparison, which
/// ignores it). A path that has no single reading is ambiguous and refused before any rule is tried.
/// </summary>
internal static class AuthorizationPath
{
    /// <summary>'%', '\', control characters and surrogates: what needs a closer look.</summary>
    private static readonly SearchValues<char> Suspicious = SearchValues.Create(SuspiciousCharacters());

    /// <summary>
    /// The canonical form of <paramref name="path"/> (an already decoded request path, as
    /// <c>HttpRequest.PathBase + Path</c> holds it), or false when it cannot be read unambiguously: a percent-escape
    /// left in a decoded path (<c>%2F</c>, which servers keep encoded, or a double-encoded <c>%25xx</c>), a backslash
    /// (which some stacks read as a separator), a NUL or other control character, or a lone UTF-16 surrogate (from
    /// invalid UTF-8). The path returned is the input itself when it was already canonical, so a clean path costs a
    /// scan and no allocation.
    /// </summary>
    public static bool TryCanonicalize(string path, out string canonical)
    {
        canonical = path;
        if (path.Length == 0)
        {
            canonical = "/";
            return true;
        }

        // Vectorized searches first: most paths hold none of the suspicious characters and are already canonical,
        // and a character-by-character loop cost eight times the rule matching itself (AuthorizationBenchmarks).
        var span = path.AsSpan();
        if (span.IndexOfAny(Suspicious) >= 0 && !IsUnambiguous(span))
        {
            return false;
        }

        if (!IsCanonical(span))
        {
            canonical = Rewrite(path);
        }

        return true;
    }

    private static string SuspiciousCharacters()
    {
        var chars = new System.Text.StringBuilder("%\\");
        for (var c = '\0'; c <= '\u009f'; c++)
        {
            if (char.IsControl(c))
            {
                chars.Append(c);
            }
        }

        for (var c = '\ud800'; c <= '\udfff'; c++)
        {
            chars.Append(c);
        }

        return chars.ToString();
    }

    private static bool IsUnambiguous(ReadOnlySpan<char> path)
    {
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (c == '%' && i + 2 < path.Length && char.IsAsciiHexDigit(path[i + 1]) && char.IsAsciiHexDigit(path[i + 2]))
            {
                return false;
            }

            if (c == '\\' || char.IsControl(c) || char.IsLowSurrogate(c))
            {
                return false;
            }

            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= path.Length || !char.IsLowSurrogate(path[i + 1]))
                {
                    return false;
                }

                i++;
            }
        }

        return true;
    }

    /// <summary>Starts with '/', and has no "//", no trailing '/' (but for "/"), no "." or ".." segment.</summary>
    private static bool IsCanonical(ReadOnlySpan<char> path)
    {
        if (path[0] != '/' || (path.Length > 1 && path[^1] == '/') || path.Contains("//", StringComparison.Ordinal))
        {
            return false;
        }

        var rest = path;
        int at;
        while ((at = rest.IndexOf("/.", StringComparison.Ordinal)) >= 0)
        {
            rest = rest[(at + 1)..];
            var end = rest.IndexOf('/');
            var segment = end < 0 ? rest : rest[..end];
            if (segment is "." or "..")
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Removes dot segments (RFC 3986 §5.2.4, as servers do before routing), then empty segments (duplicate and
    /// trailing slashes). Dot segments go first: in <c>/a//../b</c> the ".." removes the empty segment, as it does
    /// for the server, giving <c>/a/b</c>.
    /// </summary>
    private static string Rewrite(string path)
    {
        var segments = new List<(int Start, int Length)>();
        var start = path[0] == '/' ? 1 : 0;
        while (start <= path.Length)
        {
            var end = path.IndexOf('/', start);
            if (end < 0)
            {
                end = path.Length;
            }

            var length = end - start;
            if (length == 1 && path[start] == '.')
            {
                // "." names the current segment: nothing to keep
            }
            else if (length == 2 && path[start] == '.' && path[start + 1] == '.')
            {
                if (segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }
            }
            else
            {
                segments.Add((start, length));
            }

            start = end + 1;
        }

        var builder = new System.Text.StringBuilder(path.Length);
        foreach (var (segmentStart, length) in segments)
        {
            if (length > 0)
            {
                builder.Append('/').Append(path, segmentStart, length);
            }
        }

        return builder.Length == 0 ? "/" : builder.ToString();
    }
}
