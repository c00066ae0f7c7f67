using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Mesh.Testing;
using Xunit.Abstractions;

namespace Bookinfo.Tests;

/// <summary>The README's demo as users run it: the scripted tour, and the interactive mode stopped with Ctrl+C.</summary>
[Collection(BookinfoTests.Name)]
public sealed partial class DemoTests(ITestOutputHelper output)
{
    // A guard against a hung child, not a performance bound: the tour itself takes about 70 s.
    private static readonly TimeSpan Hang = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Scenario_runs_every_step_and_exits_zero_with_a_summary()
    {
        using var demo = BookinfoProcess.Start("--scenario");
        var exited = await demo.WaitForExitAsync(Hang);
        output.WriteLine(demo.Output);
        exited.ShouldBeTrue("the tour did not finish");
        demo.ExitCode.ShouldBe(0, demo.Output);

        var text = demo.Output;
        text.ShouldContain("Tour passed");
        for (var step = 1; step <= 9; step++)
        {
            text.ShouldMatch($@"(?m)^   {step}\s+500\s+.*passed$");
        }

        // Checks fail in capitals; the registry's decision log says "Failed" for the bad rollout's step, as it should.
        text.ShouldNotContain("FAILED", Case.Sensitive);

        // The two rollouts: v3 promoted after passing every step, the broken v4 rolled back with users barely touched.
        text.ShouldContain("check rollout succeeded (1 = yes): 1 (wanted = 1) ok");
        text.ShouldContain("check rolled back by the analysis (1 = yes): 1 (wanted = 1) ok");
        text.ShouldMatch(@"(?m)^   check % of user requests failed during the bad rollout \(under 1\): 0(\.\d+)? \(wanted 0 to 0\.99\) ok$");
        text.ShouldContain("users -> productpage");
        text.ShouldContain("reviews -> ratings");
    }

    [Fact]
    public async Task Ctrl_C_stops_every_host_and_frees_its_port()
    {
        using var demo = BookinfoProcess.Start();
        await Poll.UntilAsync(() => demo.HasExited || demo.Lines.Any(l => l.Contains("users -> productpage", StringComparison.Ordinal)),
            TimeSpan.FromMinutes(2), "the demo serving traffic");
        demo.HasExited.ShouldBeFalse(demo.Output);

        var ports = demo.Lines.Select(l => Listening().Match(l)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        ports.Count.ShouldBe(10, demo.Output); // the registry and nine services

        demo.Interrupt();
        var exited = await demo.WaitForExitAsync(TimeSpan.FromMinutes(1));
        output.WriteLine(demo.Output);
        exited.ShouldBeTrue("Ctrl+C did not stop the demo");
        demo.ExitCode.ShouldBe(0);
        demo.Output.ShouldContain("stopped; all ports closed");

        foreach (var port in ports)
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            Should.NotThrow(() => listener.Start(), $"port {port} is still taken");
            listener.Stop();
        }
    }

    [GeneratedRegex(@"^(?:registry:|\S+)\s+https?://127\.0\.0\.1:(\d+)/$")]
    private static partial Regex Listening();
}
