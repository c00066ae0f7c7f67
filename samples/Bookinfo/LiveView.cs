using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Bookinfo;

/// <summary>
/// The interactive console: the registry's view of the mesh, refreshed every second: each edge of the service graph
/// with its requests/s, success rate and p50/p99 per destination version, and the instances per service. Without a
/// terminal (a file, a pipe, a CI log) the same view is printed as plain lines every <see cref="PlainInterval"/>, so a
/// log of an hour holds a few hundred blocks, not thousands.
/// </summary>
internal static class LiveView
{
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(10);

    public static async Task RunAsync(BookinfoMesh mesh, double rate, CancellationToken cancellationToken)
    {
        using var registry = mesh.CreateAdminClient();
        var interactive = AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;
        if (!interactive)
        {
            // Output to a file or a pipe: the graph as plain lines every ten seconds instead of a redrawn table.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await Delay(PlainInterval, cancellationToken);
            while (!cancellationToken.IsCancellationRequested)
            {
                if (await ReadAsync(registry, cancellationToken) is { } graph)
                {
                    Console.WriteLine($"-- after {clock.Elapsed.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s: the registry's service graph");
                    foreach (var edge in graph.GetProperty("edges").EnumerateArray())
                    {
                        Console.WriteLine(Scenario.Edge(edge));
                    }

                    Console.WriteLine();
                }

                await Delay(PlainInterval, cancellationToken);
            }

            return;
        }

        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumns("source", "destination", "version", "req/s", "success", "p50 ms", "p99 ms");
        table.Title = new TableTitle("the registry's service graph, from the traffic numbers on lease renewals");
        var layout = new Rows(
            new Markup($"[bold]MeshLib Bookinfo[/]  dashboard: [link]{Markup.Escape(mesh.DashboardUrl.ToString())}[/]"),
            new Markup($"[grey]users send {rate.ToString("0.#", CultureInfo.InvariantCulture)} req/s (every 4th is jason); edit the reviews weights in the dashboard; Ctrl+C stops everything[/]"),
            table);
        await AnsiConsole.Live(layout).StartAsync(async context =>
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (await ReadAsync(registry, cancellationToken) is { } graph)
                {
                    Render(table, graph);
                    context.Refresh();
                }

                await Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        });
    }

    private static void Render(Table table, JsonElement graph)
    {
        table.Rows.Clear();
        foreach (var edge in graph.GetProperty("edges").EnumerateArray())
        {
            var success = edge.TryGetProperty("successPercent", out var s) ? s.GetDouble() : (double?)null;
            table.AddRow(
                Markup.Escape(edge.GetProperty("source").GetString() ?? string.Empty),
                Markup.Escape(edge.GetProperty("destination").GetString() ?? string.Empty),
                Markup.Escape(edge.TryGetProperty("destinationVersion", out var v) ? v.GetString() ?? "-" : "-"),
                edge.GetProperty("requestsPerSecond").GetDouble().ToString("0.0", CultureInfo.InvariantCulture),
                success is { } ok ? $"[{(ok >= 99 ? "green" : ok >= 90 ? "yellow" : "red")}]{ok.ToString("0.0", CultureInfo.InvariantCulture)}%[/]" : "-",
                Number(edge, "p50Ms"),
                Number(edge, "p99Ms"));
        }

        var instances = string.Join("  ", graph.GetProperty("services").EnumerateArray().Select(s =>
            $"{s.GetProperty("name").GetString()}: {s.GetProperty("instances").GetArrayLength()}"));
        table.Caption = new TableTitle(Markup.Escape("instances  " + instances));
    }

    private static string Number(JsonElement edge, string name) =>
        edge.TryGetProperty(name, out var value) ? value.GetDouble().ToString("0.0", CultureInfo.InvariantCulture) : "-";

    private static async Task<JsonElement?> ReadAsync(HttpClient registry, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await registry.GetAsync(new Uri("/v1/dashboard", UriKind.Relative), cancellationToken);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            return response.IsSuccessStatusCode ? doc.RootElement.Clone() : null;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or OperationCanceledException)
        {
            return null;
        }
    }

    private static async Task Delay(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C: the loop ends.
        }
    }
}
