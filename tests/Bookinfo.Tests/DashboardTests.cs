using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Mesh.Testing;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Bookinfo.Tests;

/// <summary>
/// The registry's dashboard in a real browser (Debian's chromium, driven by Playwright) against the running demo:
/// services and a live graph, a canary weight changed in the page, and the graph following the change; a rollout
/// followed on the rollout view's chart and decision log, and paused, resumed, promoted and aborted with its buttons.
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

    [Fact]
    public async Task Dashboard_follows_a_rollout_on_its_chart_and_steers_it_with_its_buttons()
    {
        File.Exists(Chromium).ShouldBeTrue($"{Chromium} is missing: test.sh installs Debian's chromium package (apt-get install -y chromium)");
        using var demo = BookinfoProcess.Start();
        await Poll.UntilAsync(() => demo.HasExited || demo.Lines.Any(l => l.StartsWith("reviews: 90% v1", StringComparison.Ordinal)),
            TimeSpan.FromMinutes(2), "the demo running its canary");
        demo.HasExited.ShouldBeFalse(demo.Output);
        var dashboard = new Uri(demo.Lines.First(l => l.StartsWith("dashboard: ", StringComparison.Ordinal))["dashboard: ".Length..]);
        using var registry = new HttpClient { BaseAddress = new Uri(dashboard.GetLeftPart(UriPartial.Authority)) };
        registry.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", dashboard.Fragment["#token=".Length..]);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 2400 } });
        var consoleErrors = new List<string>();
        page.Console += (_, message) =>
        {
            // No rollout yet is a 404 the browser reports as a failed load; script errors and CSP violations count.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal))
            {
                consoleErrors.Add(message.Text);
            }
        };

        try
        {
            await page.GotoAsync(dashboard.ToString());
            await Poll.UntilAsync(async () => (await page.Locator("#rollout-summary").InnerTextAsync()).Contains("no rollout of reviews", StringComparison.Ordinal),
                TimeSpan.FromSeconds(60), "the rollout view saying reviews has none");
            (await page.Locator("#rollout-pause").IsDisabledAsync()).ShouldBeTrue();

            // v3 from 10% of the live canary's route to all of it, in steps slow enough to watch; paused and resumed from
            // the page on the way.
            await StartRolloutAsync(registry, """
                { "Route": "canary-v3", "Stable": "v1", "Canary": "v3", "Steps": [ 10, 50, 100 ], "StepInterval": "00:00:04",
                  "Analysis": { "MinSuccessRate": 99.0, "MinRequests": 2 } }
                """);
            await UntilStateAsync(page, "Progressing");
            await page.ClickAsync("#rollout-pause");
            await UntilStateAsync(page, "Paused");
            (await RolloutStateAsync(registry)).ShouldBe("Paused");
            (await page.Locator("#rollout-resume").IsEnabledAsync()).ShouldBeTrue();
            (await page.Locator("#rollout-pause").IsDisabledAsync()).ShouldBeTrue();
            await page.ClickAsync("#rollout-resume");
            await UntilStateAsync(page, "Progressing");

            // The running step's window as the registry counts it, canary requests included.
            await Poll.UntilAsync(async () => int.Parse(await page.Locator("#rollout-window").GetAttributeAsync("data-canary-requests") ?? "0",
                CultureInfo.InvariantCulture) > 0, TimeSpan.FromSeconds(60), "the step's window so far with canary requests");
            (await page.Locator("#rollout-window").InnerTextAsync()).ShouldContain("this step so far");

            // The chart draws both subsets' success and p99 from the polled traffic while the rollout runs.
            foreach (var series in new[] { "canary-success", "stable-success", "canary-p99", "stable-p99" })
            {
                await Poll.UntilAsync(async () => await PointsAsync(page, series) >= 2, TimeSpan.FromSeconds(60), $"two points of {series} on the chart");
            }

            await Poll.UntilAsync(async () => await page.Locator("#decisions tr[data-verdict='Passed']").CountAsync() >= 1,
                TimeSpan.FromSeconds(60), "a passed step in the decision log");
            await ScreenshotAsync(page, "dashboard-3-rollout");
            await UntilStateAsync(page, "Succeeded");
            (await page.Locator("#decisions tr[data-verdict='Paused']").CountAsync()).ShouldBe(1);
            (await page.Locator("#decisions tr[data-verdict='Resumed']").CountAsync()).ShouldBe(1);
            (await page.Locator("#decisions tr[data-verdict='Passed']").CountAsync()).ShouldBe(3);
            (await page.Locator("#rollout-chart g.decision").CountAsync()).ShouldBeGreaterThanOrEqualTo(3 * 2); // each on both panels
            (await page.Locator("#rollout-summary").GetAttributeAsync("data-weight")).ShouldBe("100");
            (await page.Locator("#rollout-abort").IsDisabledAsync()).ShouldBeTrue();
            await Poll.UntilAsync(async () => await RouteAsync(registry) == "v3:100", TimeSpan.FromSeconds(30), "the route all to the promoted v3");

            // Promote from the page: a rollout whose steps would take minutes goes to 100% at once.
            await StartRolloutAsync(registry, """
                { "Route": "canary-v3", "Stable": "v3", "Canary": "v1", "Steps": [ 10, 100 ], "StepInterval": "00:05:00",
                  "Analysis": { "MinSuccessRate": 99.0, "MinRequests": 2 } }
                """);
            await UntilStateAsync(page, "Progressing");
            await page.ClickAsync("#rollout-promote");
            await UntilStateAsync(page, "Succeeded");
            (await RolloutStateAsync(registry)).ShouldBe("Succeeded");
            await Poll.UntilAsync(async () => await RouteAsync(registry) == "v1:100", TimeSpan.FromSeconds(30), "the route all to the promoted v1");

            // Abort from the page: back to the stable subset.
            await StartRolloutAsync(registry, """
                { "Route": "canary-v3", "Stable": "v1", "Canary": "v3", "Steps": [ 10, 100 ], "StepInterval": "00:05:00",
                  "Analysis": { "MinSuccessRate": 99.0, "MinRequests": 2 } }
                """);
            await UntilStateAsync(page, "Progressing");
            await Poll.UntilAsync(async () => await RouteAsync(registry) == "v1:90,v3:10", TimeSpan.FromSeconds(30), "the first step's weights");
            await page.ClickAsync("#rollout-abort");
            await UntilStateAsync(page, "Aborted");
            (await RolloutStateAsync(registry)).ShouldBe("Aborted");
            await Poll.UntilAsync(async () => await RouteAsync(registry) == "v1:100", TimeSpan.FromSeconds(30), "the route all back to v1");
            (await page.Locator("#decisions tr[data-verdict='Aborted']").CountAsync()).ShouldBe(1);
            await ScreenshotAsync(page, "dashboard-4-aborted");
            consoleErrors.ShouldBeEmpty();
        }
        catch
        {
            await ScreenshotAsync(page, "dashboard-rollout-failed");
            output.WriteLine(demo.Output);
            throw;
        }
        finally
        {
            demo.Interrupt();
            await demo.WaitForExitAsync(TimeSpan.FromMinutes(1));
        }
    }

    private static async Task StartRolloutAsync(HttpClient registry, string spec)
    {
        using var content = new StringContent(spec, Encoding.UTF8, "application/json");
        using var response = await registry.PutAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative), content);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    private static async Task<string?> RolloutStateAsync(HttpClient registry)
    {
        using var doc = JsonDocument.Parse(await registry.GetStringAsync(new Uri("/v1/rollouts/reviews", UriKind.Relative)));
        return doc.RootElement.GetProperty("state").GetString();
    }

    /// <summary>The reviews route's destinations in the registry's policy, as <c>subset:weight</c> in order, joined by commas.</summary>
    private static async Task<string> RouteAsync(HttpClient registry)
    {
        using var doc = JsonDocument.Parse(await registry.GetStringAsync(new Uri("/v1/policies/reviews", UriKind.Relative)));
        var route = doc.RootElement.GetProperty("document").GetProperty("Routes")[0];
        return string.Join(',', route.GetProperty("Destinations").EnumerateArray()
            .Select(d => $"{d.GetProperty("Subset").GetString()}:{d.GetProperty("Weight").GetInt32()}").Order(StringComparer.Ordinal));
    }

    private static async Task<int> PointsAsync(IPage page, string series)
    {
        var points = await page.Locator($"#rollout-chart polyline[data-series='{series}']").GetAttributeAsync("data-points");
        return points is null ? 0 : int.Parse(points, CultureInfo.InvariantCulture);
    }

    private static Task UntilStateAsync(IPage page, string state) =>
        Poll.UntilAsync(async () => await page.Locator("#rollout-summary").GetAttributeAsync("data-state") == state,
            TimeSpan.FromSeconds(60), $"the rollout view showing {state}");

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
