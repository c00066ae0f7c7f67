using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Configuration;

/// <summary>
/// The flattened keys of one policy document, with each section's children indexed once. The in-memory provider
/// finds a section's children by scanning every key of the document, and the policy reader asks for children several
/// times per section, so with it reading a document costs the square of its size: seconds of CPU for a 250 KB
/// document of small routes, which anyone allowed to validate a policy can ask the registry for again and again.
/// </summary>
internal sealed class PolicyConfigurationProvider : ConfigurationProvider
{
    private readonly Dictionary<string, List<string>> _children = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _top = [];

    public PolicyConfigurationProvider(Dictionary<string, string?> pairs)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in pairs)
        {
            Data[key] = value;
            var start = 0;
            while (start < key.Length)
            {
                var end = key.IndexOf(ConfigurationPath.KeyDelimiter, start, StringComparison.Ordinal);
                if (end < 0)
                {
                    end = key.Length;
                }

                // The child key is the path up to this segment's end; one entry per distinct child, as the root
                // answers each child once however many keys lie under it.
                if (seen.Add(key[..end]))
                {
                    var parent = start == 0 ? null : key[..(start - 1)];
                    if (parent is null)
                    {
                        _top.Add(key[start..end]);
                    }
                    else
                    {
                        if (!_children.TryGetValue(parent, out var list))
                        {
                            _children[parent] = list = [];
                        }

                        list.Add(key[start..end]);
                    }
                }

                start = end + 1;
            }
        }
    }

    public override IEnumerable<string> GetChildKeys(IEnumerable<string> earlierKeys, string? parentPath)
    {
        var results = new List<string>(earlierKeys);
        if (parentPath is null)
        {
            results.AddRange(_top);
        }
        else if (_children.TryGetValue(parentPath, out var children))
        {
            results.AddRange(children);
        }

        results.Sort(ConfigurationKeyComparer.Instance);
        return results;
    }
}
