using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests;

/// <summary>
/// The policy reader's configuration provider indexes each section's children instead of scanning every key, and
/// must answer exactly what the in-memory provider answers for the same keys: the same sections, in the same order,
/// with the same keys, paths and values.
/// </summary>
public sealed class PolicyConfigurationProviderTests
{
    public static TheoryData<string[]> KeySets => new()
    {
        new[] { "Routes:0:Name", "Routes:1:Name", "Routes:10:Name", "Routes:2:Name", "Routes:2:Destinations:0:Subset" },
        new[] { "LoadBalancer:Policy", "loadbalancer:choices", "Retry:Attempts", "retry:PerTryTimeout", "Timeout" },
        new[] { "a", "a:b", "A:B:c", "a:b:d", "b:a", "B:b" },
        new[] { "x::y", "x:", ":z", "x:y:", "::" },
        new[] { "Routes:0:Match:Headers:end-user", "Routes:0:Match:Headers:x-b", "Routes:0:Match:Path:Prefix", "Routes:0:Name" },
    };

    [Theory]
    [MemberData(nameof(KeySets))]
    public void Answers_every_section_as_the_in_memory_provider_does(string[] keys)
    {
        var pairs = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < keys.Length; i++)
        {
            pairs[keys[i]] = $"v{i}";
        }

        Tree(Indexed(pairs)).ShouldBe(Tree(InMemory(pairs)));
    }

    [Fact]
    public void Answers_a_generated_document_as_the_in_memory_provider_does()
    {
        var random = new Random(20261207);
        string[] names = ["Routes", "routes", "Destinations", "Match", "Headers", "Name", "Weight", "0", "1", "2", "10", "11"];
        var pairs = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < 400; i++)
        {
            var depth = random.Next(1, 6);
            var segments = new string[depth];
            for (var s = 0; s < depth; s++)
            {
                segments[s] = names[random.Next(names.Length)];
            }

            pairs[string.Join(':', segments)] = random.Next(3) == 0 ? null : $"v{i}";
        }

        var indexed = Tree(Indexed(pairs));
        indexed.Count.ShouldBeGreaterThan(pairs.Count, "every key and the sections above it");
        indexed.ShouldBe(Tree(InMemory(pairs)));
    }

    private static IConfiguration InMemory(Dictionary<string, string?> pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs).Build();

    private static ConfigurationRoot Indexed(Dictionary<string, string?> pairs) =>
        new([new PolicyConfigurationProvider(pairs)]);

    private static List<string> Tree(IConfiguration root)
    {
        var lines = new List<string>();
        Visit(root, lines);
        return lines;
    }

    private static void Visit(IConfiguration section, List<string> lines)
    {
        foreach (var child in section.GetChildren())
        {
            lines.Add($"{child.Key} | {child.Path} | {child.Value ?? "(null)"}");
            Visit(child, lines);
        }
    }
}
