using Mesh.AspNetCore.Telemetry;

namespace Mesh.AspNetCore.Tests.Telemetry;

public sealed class SourceVersionLabelsTests
{
    [Fact]
    public void EachServiceKeepsItsFirstVersionsAndTheRestAreOther()
    {
        var labels = new SourceVersionLabels();
        for (var i = 0; i < SourceVersionLabels.MaxVersionsPerService; i++)
        {
            labels.Label("ratings", $"v{i}").ShouldBe($"v{i}");
        }

        labels.Label("ratings", "v-late").ShouldBe(SourceVersionLabels.Other);
        labels.Label("ratings", "v3").ShouldBe("v3", "an admitted version keeps its name");
        labels.Label("reviews", "v-late").ShouldBe("v-late", "another service has its own allowance");
    }

    [Fact]
    public void ConcurrentFirstSightingsAdmitNoMoreThanTheAllowance()
    {
        var labels = new SourceVersionLabels();
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 200, i => seen.Add(labels.Label("ratings", $"v{i % 40}")));

        seen.Where(l => l != SourceVersionLabels.Other).Distinct().Count().ShouldBe(SourceVersionLabels.MaxVersionsPerService);
    }
}
