using Mesh.Client.Registry;
using Mesh.Registry.Rollouts;

namespace Mesh.Registry.Tests;

/// <summary>A step's traffic window summing the reports of every caller, honest or not.</summary>
public sealed class RolloutTrafficWindowTests
{
    [Fact]
    public void Forged_reports_at_the_bounds_never_wrap_the_counts_negative()
    {
        // Each report may claim a trillion requests (and repeat a destination 128 times): some nine million of them
        // pass what a long holds.
        var window = new RolloutTrafficWindow(1, "v1", "v3");
        var report = new DestinationStats { Service = "reviews", Version = "v3", Requests = 1_000_000_000_000, Errors = 1_000_000_000_000, P99Ms = 10 };
        for (var i = 0; i < 9_300_000; i++)
        {
            window.Add(report);
        }

        var (stable, canary) = window.Read();
        canary.Requests.ShouldBe(long.MaxValue);
        canary.Errors.ShouldBe(long.MaxValue);
        canary.SuccessRate.ShouldBe(0);
        canary.P99Ms.ShouldBe(10);
        stable.Requests.ShouldBe(0);
    }
}
