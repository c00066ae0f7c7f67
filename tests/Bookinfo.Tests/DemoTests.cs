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
    // A guard against a hung child, not a performance bound: the tour itself takes about 40 s.
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
        for (var step = 1; step <= 7; step++)
        {
            text.ShouldMatch($@"(?m)^   {step}\s+500\s+.*passed$");
        }

        text.ShouldNotContain("FAILED");
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

        var ports = demo.Lines.Select(l => Listening().Match(l)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture))
            .Distinct().ToList();
        ports.Count.ShouldBe(11, demo.Output); // the ingress, the dashboard, the registry and eight services

        // What the demo prints to open answers plain HTTP; a service's own port speaks only mutual TLS, as printed.
        var ingress = new Uri(demo.Lines.Select(l => Ingress().Match(l)).First(m => m.Success).Groups[1].Value);
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
        {
            using var page = await http.GetAsync(ingress);
            page.StatusCode.ShouldBe(HttpStatusCode.OK, demo.Output);
            (await page.Content.ReadAsStringAsync()).ShouldContain("The Comedy of Errors");
            var productPage = demo.Lines.Select(l => Service().Match(l)).First(m => m.Success && m.Groups[1].Value == "productpage-1").Groups[2].Value;
            await Should.ThrowAsync<HttpRequestException>(() => http.GetAsync(new Uri($"http://127.0.0.1:{productPage}/productpage/1")));
        }

        // Not a terminal: the live view is a block of plain lines every ten seconds, not one a second.
        await Poll.UntilAsync(() => demo.HasExited || demo.Lines.Count(l => l.StartsWith("-- after ", StringComparison.Ordinal)) >= 2,
            TimeSpan.FromMinutes(2), "two blocks of the live view");
        var seconds = demo.Lines.Select(l => Block().Match(l)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        seconds.Count.ShouldBeGreaterThanOrEqualTo(2, demo.Output);
        seconds[0].ShouldBeGreaterThanOrEqualTo(10);
        for (var i = 1; i < seconds.Count; i++)
        {
            (seconds[i] - seconds[i - 1]).ShouldBeGreaterThanOrEqualTo(9, demo.Output); // printed rounded to a second
        }

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

    [Fact]
    public async Task The_ingress_is_on_port_9080_and_on_a_free_port_when_another_program_holds_it()
    {
        // Holding 9080 is the case under test; when another program on this machine already holds it, that is too.
        using var holder = new TcpListener(IPAddress.Loopback, 9080);
        try
        {
            holder.Start();
        }
        catch (SocketException)
        {
            // Taken already.
        }

        using var demo = BookinfoProcess.Start();
        await Poll.UntilAsync(() => demo.HasExited || demo.Lines.Any(l => Ingress().IsMatch(l)), TimeSpan.FromMinutes(2), "the ingress line");
        demo.HasExited.ShouldBeFalse(demo.Output);
        var ingress = new Uri(demo.Lines.Select(l => Ingress().Match(l)).First(m => m.Success).Groups[1].Value);
        ingress.Port.ShouldNotBe(9080);
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
        {
            await Poll.UntilAsync(async () =>
            {
                using var page = await http.GetAsync(ingress);
                return page.StatusCode == HttpStatusCode.OK;
            }, TimeSpan.FromMinutes(1), "the ingress answering");
        }

        demo.Interrupt();
        (await demo.WaitForExitAsync(TimeSpan.FromMinutes(1))).ShouldBeTrue(demo.Output);
        demo.ExitCode.ShouldBe(0, demo.Output);
    }

    [GeneratedRegex(@"^(?:ingress:|dashboard:|registry:)\s+https?://127\.0\.0\.1:(\d+)/|^  \S+\s+127\.0\.0\.1:(\d+)$")]
    private static partial Regex Listening();

    [GeneratedRegex(@"^ingress:\s+(http://127\.0\.0\.1:\d+/productpage/1)\s")]
    private static partial Regex Ingress();

    [GeneratedRegex(@"^-- after (\d+) s: ")]
    private static partial Regex Block();

    [GeneratedRegex(@"^  (\S+)\s+127\.0\.0\.1:(\d+)$")]
    private static partial Regex Service();
}
