using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Configuration;

/// <summary>
/// The flattened keys of one policy document, with each section's children indexed once. The in-memory provider
/// finds a section's children by scanning every key of the document, and the policy reader asks for children several
/// times per section, so with it reading a document costs the square of its size: seconds of CPU for a 250 KB
/// document of small routes, which anyone allowed to validate a policy can ask the registry for again and again
/// (<c>PolicyReadBenchmarks</c> measures both).
/// </summary>
/// <remarks>
/// It answers exactly what the in-memory provider answers: for a parent, one child segment per key below it, in the
/// order the keys were given, then sorted the same way; the configuration root drops the repeats.
/// </remarks>
internal sealed class PolicyConfigurationProvider : ConfigurationProvider
{
    private readonly List<string> _top = [];
    private readonly Dictionary<string, List<string>> _children = new(StringComparer.OrdinalIgnoreCase);

    public PolicyConfigurationProvider(Dictionary<string, string?> pairs)
    {
        foreach (var (key, value) in pairs)
        {
            Data[key] = value;
        }

        // Data, not pairs: the in-memory provider reads its keys back in Data's order, and the order decides which
        // spelling of a child the root keeps when two keys differ only in case.
        foreach (var key in Data.Keys)
        {
            _top.Add(Segment(key, 0));
            for (var colon = key.IndexOf(ConfigurationPath.KeyDelimiter, StringComparison.Ordinal); colon >= 0;
                 colon = key.IndexOf(ConfigurationPath.KeyDelimiter, colon + 1, StringComparison.Ordinal))
            {
                var parent = key[..colon];
                if (!_children.TryGetValue(parent, out var children))
                {
                    _children[parent] = children = [];
                }

                children.Add(Segment(key, colon + 1));
            }
        }
    }

    public override IEnumerable<string> GetChildKeys(IEnumerable<string> earlierKeys, string? parentPath)
    {
        var results = new List<string>();
        if (parentPath is null)
        {
            results.AddRange(_top);
        }
        else if (_children.TryGetValue(parentPath, out var children))
        {
            results.AddRange(children);
        }

        results.AddRange(earlierKeys);
        results.Sort(ConfigurationKeyComparer.Instance);
        return results;
    }

    private static string Segment(string key, int start)
    {
        var end = key.IndexOf(ConfigurationPath.KeyDelimiter, start, StringComparison.Ordinal);
        return end < 0 ? key[start..] : key[start..end];
    }
}
