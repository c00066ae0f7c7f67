using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Configuration;

/// <summary>
/// Reads typed values from one configuration section and records every problem with its full path instead of
/// throwing at the first one, so an operator sees all mistakes of a file at once. Unknown keys are errors too:
/// a misspelt <c>Atempts</c> silently falling back to a default is worse than a failed start.
/// </summary>
internal readonly struct ConfigurationSectionReader
{
    private readonly IConfigurationSection _section;
    private readonly List<string> _errors;

    public ConfigurationSectionReader(IConfigurationSection section, List<string> errors, params string[] knownKeys)
    {
        _section = section;
        _errors = errors;
        ExpectSection(section, errors);
        foreach (var child in section.GetChildren())
        {
            if (Array.FindIndex(knownKeys, k => string.Equals(k, child.Key, StringComparison.OrdinalIgnoreCase)) < 0)
            {
                errors.Add($"{child.Path}: unknown setting '{child.Key}'; expected one of {string.Join(", ", knownKeys)}");
            }
        }
    }

    public IConfigurationSection Section(string key) => _section.GetSection(key);

    /// <summary>The items of a list or map setting; a value in its place is an error (see <see cref="ChildrenOf"/>).</summary>
    public IEnumerable<IConfigurationSection> Children(string key) => ChildrenOf(_section.GetSection(key), _errors);

    /// <summary>
    /// The children of <paramref name="section"/>, recording an error when it holds a value instead: configuration
    /// would otherwise read <c>"Destinations": "v2"</c> or <c>"Headers": "end-user=jason"</c> as empty, and a route
    /// that was meant to narrow traffic would take all of it.
    /// </summary>
    public static IEnumerable<IConfigurationSection> ChildrenOf(IConfigurationSection section, List<string> errors)
    {
        ExpectSection(section, errors);
        return section.GetChildren();
    }

    private static void ExpectSection(IConfigurationSection section, List<string> errors)
    {
        // An empty value is JSON's null or {}: nothing given, which reads as the defaults.
        if (!string.IsNullOrEmpty(section.Value))
        {
            errors.Add($"{section.Path}: expected a section, found a value");
        }
    }

    public bool Has(string key)
    {
        var child = _section.GetSection(key);
        return child.Value is not null || child.GetChildren().Any();
    }

    public string? String(string key)
    {
        var child = _section.GetSection(key);
        if (child.Value is null && child.GetChildren().Any())
        {
            _errors.Add($"{child.Path}: expected a value, found a section");
            return null;
        }

        return string.IsNullOrEmpty(child.Value) ? null : child.Value;
    }

    public int? Int(string key) => Parse(key, "an integer", static (string s, out int v) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v));

    public double? Double(string key) => Parse(key, "a number", static (string s, out double v) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v) && double.IsFinite(v));

    public bool? Bool(string key) => Parse(key, "true or false", static (string s, out bool v) => bool.TryParse(s, out v));

    public TimeSpan? Duration(string key) => Parse(key, "a duration such as 00:00:05", static (string s, out TimeSpan v) =>
        TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out v));

    public Uri? AbsoluteUri(string key) => ParseRef(key, "an absolute URI such as http://127.0.0.1:5001", static (string s, out Uri v) =>
        Uri.TryCreate(s, UriKind.Absolute, out v!));

    public TEnum? Enum<TEnum>(string key)
        where TEnum : struct, Enum
    {
        var text = String(key);
        if (text is null)
        {
            return null;
        }

        // Numbers are refused: "Policy": 3 says nothing to the next reader of the file.
        if (System.Enum.TryParse<TEnum>(text, ignoreCase: true, out var value) && !char.IsAsciiDigit(text[0]) && text[0] != '-')
        {
            return value;
        }

        _errors.Add($"{_section.GetSection(key).Path}: '{text}' is not one of {string.Join(", ", System.Enum.GetNames<TEnum>())}");
        return null;
    }

    public List<string> StringList(string key)
    {
        var list = new List<string>();
        var child = _section.GetSection(key);
        if (!string.IsNullOrEmpty(child.Value))
        {
            // A single value where a list was expected ("Methods": "GET") is taken as a list of one.
            list.Add(child.Value);
            return list;
        }

        foreach (var item in child.GetChildren())
        {
            if (item.Value is null)
            {
                _errors.Add($"{item.Path}: expected a value, found a section");
            }
            else
            {
                list.Add(item.Value);
            }
        }

        return list;
    }

    /// <summary>
    /// A list of URIs (a single value is a list of one), in the order of their indexes so a validator's error for item
    /// <c>i</c> names the right path; whether each is absolute is the validator's to say. A key that is present but
    /// lists nothing (<c>[]</c> or an empty value) is an error, since it can only be a mistake. Null when the key is
    /// absent or an item is not a URI at all (that error is recorded here).
    /// </summary>
    public List<Uri>? UriList(string key)
    {
        var child = _section.GetSection(key);
        var present = false;
        foreach (var sibling in _section.GetChildren())
        {
            present |= string.Equals(sibling.Key, key, StringComparison.OrdinalIgnoreCase);
        }

        if (!present)
        {
            return null;
        }

        List<(string Path, string? Value)> items = child.Value is { Length: > 0 } single ? [(child.Path, single)] : [.. child.GetChildren().Select(c => (c.Path, c.Value))];
        if (items.Count == 0)
        {
            _errors.Add($"{child.Path}: must list at least one URL");
            return null;
        }

        var list = new List<Uri>(items.Count);
        var valid = true;
        foreach (var (path, value) in items)
        {
            if (value is null)
            {
                _errors.Add($"{path}: expected a value, found a section");
                valid = false;
            }
            else if (Uri.TryCreate(value.Trim(), UriKind.RelativeOrAbsolute, out var uri))
            {
                list.Add(uri);
            }
            else
            {
                _errors.Add($"{path}: '{value}' is not a URI such as http://127.0.0.1:5001");
                valid = false;
            }
        }

        return valid ? list : null;
    }

    public Dictionary<string, string> StringMap(string key)
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in Children(key))
        {
            if (item.Value is null)
            {
                _errors.Add($"{item.Path}: expected a value, found a section");
            }
            else
            {
                map[item.Key] = item.Value;
            }
        }

        return map;
    }

    public Dictionary<string, int> IntMap(string key)
    {
        var map = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in Children(key))
        {
            if (item.Value is null)
            {
                _errors.Add($"{item.Path}: expected a value, found a section");
            }
            else if (int.TryParse(item.Value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                map[item.Key] = value;
            }
            else
            {
                _errors.Add($"{item.Path}: '{item.Value}' is not an integer");
            }
        }

        return map;
    }

    private delegate bool TryParser<T>(string text, out T value);

    private T? Parse<T>(string key, string expected, TryParser<T> parser)
        where T : struct
    {
        var text = String(key);
        if (text is null)
        {
            return null;
        }

        if (parser(text.Trim(), out var value))
        {
            return value;
        }

        _errors.Add($"{_section.GetSection(key).Path}: '{text}' is not {expected}");
        return null;
    }

    private T? ParseRef<T>(string key, string expected, TryParser<T> parser)
        where T : class
    {
        var text = String(key);
        if (text is null)
        {
            return null;
        }

        if (parser(text.Trim(), out var value))
        {
            return value;
        }

        _errors.Add($"{_section.GetSection(key).Path}: '{text}' is not {expected}");
        return null;
    }
}
