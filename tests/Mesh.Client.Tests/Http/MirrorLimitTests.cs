using System.Diagnostics.Metrics;
using Mesh.Client.Routing;
using Mesh.Client.Runtime;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// A mirror that stops answering holds each copy for up to ten seconds: beyond <see cref="MirrorLimit.MaxInFlight"/>
/// copies of one service in flight, the next copies are skipped (and counted so) instead of piling up.
/// </summary>
public sealed class MirrorLimitTests
{
    [Fact]
    public async Task Copies_beyond_the_limit_are_skipped_until_stuck_ones_end()
    {
        // The caller's requests are answered; the mirror's copies hang until their ten seconds are up.
        var backend = new ScriptedBackend(s => s.Host == "reviews-shadow" ? ScriptedBackend.HangAsync(s) : ScriptedBackend.Answer(200));
        var policy = new Dictionary<string, string?>
        {
            ["Subsets:v1:version"] = "v1",
            ["Subsets:v2:version"] = "v2",
            ["Routes:0:Name"] = "default",
            ["Routes:0:Destinations:0:Subset"] = "v1",
            ["Routes:0:Destinations:0:Weight"] = "100",
            ["Routes:0:Mirror:Subset"] = "v2",
            ["Routes:0:Mirror:Percentage"] = "100",
        };
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1", "v2"], policy);
        using var mirrors = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh.Client", "mesh.mirror.requests");
        mesh.Services.GetRequiredService<MeshRuntime>().TryGetService("reviews", out var service).ShouldBeTrue();
        int Shadows() => backend.Sent.Count(s => s.Host == "reviews-shadow");

        for (var i = 0; i < MirrorLimit.MaxInFlight + 5; i++)
        {
            (await mesh.GetAsync("http://reviews/")).Dispose();
        }

        await Poll.UntilAsync(() => Shadows() == MirrorLimit.MaxInFlight, TimeSpan.FromSeconds(30), "the copies within the limit reach the mirror");
        service.Mirrors.InFlight.ShouldBe(MirrorLimit.MaxInFlight);
        mirrors.GetMeasurementSnapshot().Count(m => (string?)m.Tags["result"] == "skipped").ShouldBe(5);

        // Their ten seconds up, the stuck copies end and give their places back: the next copy goes again.
        mesh.Time.Advance(TimeSpan.FromSeconds(10));
        await Poll.UntilAsync(() => service.Mirrors.InFlight == 0, TimeSpan.FromSeconds(30), "the stuck copies end");
        (await mesh.GetAsync("http://reviews/")).Dispose();
        await Poll.UntilAsync(() => Shadows() == MirrorLimit.MaxInFlight + 1, TimeSpan.FromSeconds(30), "a copy goes again");
    }
}
