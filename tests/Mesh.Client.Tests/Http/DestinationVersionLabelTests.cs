using System.Diagnostics.Metrics;
using Mesh.Client.LoadBalancing;
using Mesh.Client.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// A destination's version label comes from its instances' registrations, and a join token that names no version
/// registers instances at any version it likes: each would be a new series on every caller's request metrics, filling
/// the per-metric cap until other destinations' series are dropped. Ten of the versions a service's endpoints have now
/// keep their names (most endpoints first, then by name) and the rest are <c>other</c>; a version whose endpoints are
/// gone gives its place to the next.
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

    [Fact]
    public void A_version_whose_endpoints_are_gone_gives_its_place_to_the_next()
    {
        // Eleven deployments in a caller's lifetime, one version each: the eleventh still gets its name, as a canary
        // must for the traffic reports its rollout is judged by.
        var model = MetricVersions.Of(Endpoints(Enumerable.Range(1, 10).Select(i => $"v{i}")));
        model.Label("v11").ShouldBe(MetricVersions.Other);

        var next = MetricVersions.Of(Endpoints(Enumerable.Range(2, 10).Select(i => $"v{i}")));
        next.Label("v11").ShouldBe("v11");
        next.Label("v1").ShouldBe(MetricVersions.Other);
    }

    [Fact]
    public void Versions_with_more_endpoints_are_admitted_first()
    {
        // Eleven versions of one endpoint each beside the two versions serving most of the traffic.
        string[] versions = [.. Enumerable.Repeat("stable", 5), .. Enumerable.Repeat("canary", 2), .. Enumerable.Range(0, 11).Select(i => $"a{i:D2}")];
        var model = MetricVersions.Of(Endpoints(versions));

        model.Label("stable").ShouldBe("stable");
        model.Label("canary").ShouldBe("canary");
        Enumerable.Range(0, 11).Count(i => model.Label($"a{i:D2}") == MetricVersions.Other).ShouldBe(3);
    }

    private static EndpointState[] Endpoints(IEnumerable<string> versions) =>
        [.. versions.Select((v, i) => new EndpointState(new Uri($"http://10.0.{i / 250}.{i % 250 + 1}:80"), new Dictionary<string, string> { ["version"] = v }, null))];
}
