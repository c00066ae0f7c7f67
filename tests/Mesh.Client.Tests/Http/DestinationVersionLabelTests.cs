using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// A destination's version label comes from its instances' registrations, and a join token that names no version
/// registers instances at any version it likes: each would be a new series on every caller's request metrics, filling
/// the per-metric cap until other destinations' series are dropped. As on the destination side, the first ten
/// versions of a service keep their names and later ones are <c>other</c>.
/// </summary>
public sealed class DestinationVersionLabelTests
{
    [Fact]
    public async Task A_destination_brings_at_most_ten_versions_into_the_callers_metrics()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        var versions = Enumerable.Range(1, 14).Select(i => $"v{i}").ToArray();
        var policy = new Dictionary<string, string?> { ["LoadBalancer:Policy"] = "RoundRobin" };
        using var mesh = MeshUnderTest.Create(backend, "reviews", versions, policy);
        using var requests = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh.Client", "mesh.requests");

        for (var i = 0; i < versions.Length; i++)
        {
            using var response = await mesh.GetAsync("http://reviews/items");
        }

        backend.Sent.Select(s => s.Endpoint).Distinct().Count().ShouldBe(versions.Length, "every instance was called");
        var labels = requests.GetMeasurementSnapshot().Select(m => (string)m.Tags["destination_version"]!).ToList();
        labels.Count.ShouldBe(versions.Length);
        labels.Distinct().Count().ShouldBe(11);
        labels.Count(l => l == "other").ShouldBe(4);
    }
}
