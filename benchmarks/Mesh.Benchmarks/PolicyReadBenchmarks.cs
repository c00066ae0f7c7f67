using System.Text;
using BenchmarkDotNet.Attributes;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Benchmarks;

/// <summary>
/// Why policy documents are read through <see cref="PolicyConfigurationProvider"/> and not the in-memory provider:
/// walking every section of a document of <see cref="Routes"/> routes, as the policy reader does, costs the square of
/// its size with the in-memory provider (each section's children are found by scanning every key) and grows in
/// proportion to it with the indexed one. <c>ReadDocument</c> is the whole read of the same document as JSON (parse,
/// flatten, read, validate), as the registry's validate endpoint and a client reading a registry policy do it.
/// </summary>
[MemoryDiagnoser]
public class PolicyReadBenchmarks
{
    private Dictionary<string, string?> _pairs = null!;
    private byte[] _json = null!;

    [Params(250, 1000)]
    public int Routes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pairs = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var json = new StringBuilder("{\"Routes\":[");
        for (var i = 0; i < Routes; i++)
        {
            _pairs[$"Routes:{i}:Name"] = $"r{i}";
            _pairs[$"Routes:{i}:Match:Headers:end-user"] = "jason";
            _pairs[$"Routes:{i}:Destinations:0:Subset"] = "v1";
            _pairs[$"Routes:{i}:Destinations:0:Weight"] = "100";
            json.Append(i == 0 ? string.Empty : ",")
                .Append("{\"Name\":\"r").Append(i)
                .Append("\",\"Match\":{\"Headers\":{\"end-user\":\"jason\"}},\"Destinations\":[{\"Subset\":\"v1\",\"Weight\":100}]}");
        }

        _json = Encoding.UTF8.GetBytes(json.Append("]}").ToString());
        if (Walk(Indexed()) != Walk(InMemory()))
        {
            throw new InvalidOperationException("the two providers disagree");
        }
    }

    [Benchmark(Baseline = true)]
    public int InMemoryProvider() => Walk(InMemory());

    [Benchmark]
    public int IndexedProvider() => Walk(Indexed());

    [Benchmark]
    public int ReadDocument()
    {
        using var stream = new MemoryStream(_json, writable: false);
        return PolicyDocumentReader.Read(stream).Errors.Count;
    }

    private IConfigurationRoot InMemory() => new ConfigurationBuilder().AddInMemoryCollection(_pairs).Build();

    private ConfigurationRoot Indexed() => new([new PolicyConfigurationProvider(_pairs)]);

    private static int Walk(IConfiguration section)
    {
        var count = 0;
        foreach (var child in section.GetChildren())
        {
            count += 1 + Walk(child);
        }

        return count;
    }
}
