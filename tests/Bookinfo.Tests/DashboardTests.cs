using System.Globalization;
using System.Reflection;
using Mesh.Testing;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Bookinfo.Tests;

/// <summary>
/// The registry's dashboard in a real browser (Debian's chromium, driven by Playwright) against the running demo:
/// services and a live graph, a canary weight changed in the page, and the graph following the change.
/// </summary>
[Collection(BookinfoTests.Name)]
public sealed class DashboardTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";

    private static string TestResults =>
        typeof(DashboardTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "TestResults").Value!;

    [Fact]
    public async Task Dashboard_shows_the_mesh_and_a_canary_weight_changed_in_the_page_moves_the_traffic()
    {
        File.Exists(Chromium).ShouldBeTrue($"{Chromium} is missing: test.sh installs Debian's chromium package (apt-get install -y chromium)");
        using var demo = BookinfoProcess.Start();
        await Poll.UntilAsync(() => demo.HasExited || demo.Lines.Any(l => l.StartsWith("reviews: 90% v1", StringComparison.Ordinal)),
            TimeSpan.FromMinutes(2), "the demo running its canary");
        demo.HasExited.ShouldBeFalse(demo.Output);
        var dashboard = demo.Lines.First(l => l.StartsWith("dashboard: ", StringComparison.Ordinal))["dashboard: ".Length..];

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox"], // CI runs as root, where chromium refuses its sandbox
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1800 } });
        var consoleErrors = new List<string>();
        page.Console += (_, message) =>
        {
            // A refused validation is a 400 the browser reports as a failed load; script errors and CSP violations count.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal))
            {
                consoleErrors.Add(message.Text);
            }
        };

        try
        {
            await page.GotoAsync(dashboard);

            // The token moved to session storage and left the address bar.
            await Poll.UntilAsync(() => !page.Url.Contains("token=", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the token fragment removed");

            // Services and instances.
            await Poll.UntilAsync(async () => await page.Locator("#instances tr[data-service='reviews']").CountAsync() == 5,
                TimeSpan.FromSeconds(60), "the five reviews instances listed");
            foreach (var service in new[] { "users", "productpage", "details", "ratings" })
            {
                (await page.Locator($"#instances tr[data-service='{service}']").CountAsync()).ShouldBeGreaterThan(0, service);
            }

            // Graph edges with traffic on them, v3 getting its 10%.
            await Poll.UntilAsync(async () => await RateAsync(page, "#graph g.edge[data-edge='users->productpage']") > 0 &&
                                              await RateAsync(page, "#graph g.edge[data-edge='productpage->reviews']") > 0 &&
                                              await RateAsync(page, "#edges tr[data-edge='productpage->reviews:v3']") > 0,
                TimeSpan.FromSeconds(60), "graph edges with requests/s");
            await ScreenshotAsync(page, "dashboard-1-canary");

            // A wrong weight is refused with its path, and nothing changes.
            var v1 = page.Locator("#weights input[data-route='0'][data-destination='0']");
            var v3 = page.Locator("#weights input[data-route='0'][data-destination='1']");
            await v1.FillAsync("50");
            await v3.FillAsync("60");
            await page.ClickAsync("#validate");
            await Poll.UntilAsync(async () => await page.Locator("#policy-errors li").CountAsync() > 0, TimeSpan.FromSeconds(30), "validation errors shown");
            var errors = await page.Locator("#policy-errors").InnerTextAsync();
            output.WriteLine(errors);
            errors.ShouldContain("Routes");
            errors.ShouldContain("110");

            // All of it to v3, through the page: validated, then PUT.
            await v1.FillAsync("0");
            await v3.FillAsync("100");
            await page.ClickAsync("#apply");
            await Poll.UntilAsync(async () => (await page.Locator("#policy-result").InnerTextAsync()).Contains("applied as version 2", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30), "the policy applied");

            // The graph follows: reviews v1 drops out of productpage's traffic, v3 takes it all.
            await Poll.UntilAsync(async () => await page.Locator("#edges tr[data-edge='productpage->reviews:v1']").CountAsync() == 0 &&
                                              await RateAsync(page, "#edges tr[data-edge='productpage->reviews:v3']") > 5,
                TimeSpan.FromSeconds(60), "the graph following the new weights");

            // The history shows both versions and their diff.
            (await page.Locator("#history tr[data-version]").CountAsync()).ShouldBe(2);
            var diff = await page.Locator("#diff").InnerTextAsync();
            output.WriteLine(diff);
            diff.ShouldMatch(@"(?m)^\+ +""Weight"": 100,?$");
            diff.ShouldMatch(@"(?m)^- +""Weight"": 10,?$");
            await ScreenshotAsync(page, "dashboard-2-all-v3");
            consoleErrors.ShouldBeEmpty();
        }
        catch
        {
            await ScreenshotAsync(page, "dashboard-failed");
            output.WriteLine(demo.Output);
            throw;
        }
        finally
        {
            demo.Interrupt();
            await demo.WaitForExitAsync(TimeSpan.FromMinutes(1));
        }
    }

    private static async Task<double> RateAsync(IPage page, string selector)
    {
        var element = page.Locator(selector);
        if (await element.CountAsync() == 0)
        {
            return 0;
        }

        var rate = await element.First.GetAttributeAsync("data-rps");
        return rate is null ? 0 : double.Parse(rate, CultureInfo.InvariantCulture);
    }

    private async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(TestResults);
        var path = Path.Combine(TestResults, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        output.WriteLine($"screenshot: {path}");
    }
}

/// <summary>The demo's tests run one at a time: each starts the whole mesh, and the machine has few cores.</summary>
[CollectionDefinition(Name)]
public sealed class BookinfoTests
{
    public const string Name = "bookinfo";
}
