using System.Globalization;
using System.Security;
using System.Text;
using System.Text.Json;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// Draws a full run's answer to "what does the mesh add, and what would a proxy add" as an SVG the benchmark report
/// shows: for the mesh, one nginx hop and an nginx sidecar pair, the latency each adds over the direct client at p50
/// and p99, and the machine CPU each adds per request, at every concurrency the run measured. Plain SVG written by
/// hand: a chart of nine bars per panel needs no plotting library, and the file stays readable in a diff.
/// </summary>
internal static class ResultsChart
{
    /// <summary>The variants drawn, each with its colour, in the order of the bars within a group.</summary>
    private static readonly (string Variant, string Label, string Colour)[] Series =
    [
        ("mesh", "mesh (in process)", "#2f7ed8"),
        ("nginx", "nginx, one hop", "#f28f43"),
        ("nginx-pair", "nginx sidecar pair", "#8d4653"),
    ];

    private static readonly (string Title, Func<ChartCell, double?> Value)[] Panels =
    [
        ("added latency p50, µs", c => c.AddedP50Us),
        ("added latency p99, µs", c => c.AddedP99Us),
        ("added machine CPU, µs per request", c => c.AddedMachineCpuUs),
    ];

    private const int PanelWidth = 300;
    private const int PanelHeight = 220;
    private const int Top = 56;
    private const int Left = 20;
    private const int BarWidth = 22;
    private const int GroupGap = 18;

    /// <summary><c>chart &lt;results.json&gt; &lt;chart.svg&gt;</c>: draws the chart of a results file written earlier.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length != 3)
        {
            await error.WriteLineAsync("usage: chart <results.json> <chart.svg>");
            return 64;
        }

        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(args[1]));
        await File.WriteAllTextAsync(args[2], Svg(json.RootElement));
        await output.WriteLineAsync($"chart: {args[2]}");
        return 0;
    }

    /// <summary>The chart of a results document, as the benchmark writes it (<see cref="Report.Json"/>).</summary>
    public static string Svg(JsonElement results)
    {
        var cells = new List<ChartCell>();
        foreach (var cell in results.GetProperty("Cells").EnumerateArray())
        {
            cells.Add(new ChartCell(
                cell.GetProperty("Variant").GetString()!,
                cell.GetProperty("Concurrency").GetInt32(),
                Number(cell, "AddedP50Us"),
                Number(cell, "AddedP99Us"),
                // Milliseconds per 1,000 requests are microseconds per request.
                Number(cell, "AddedMachineCpuMsPer1k")));
        }

        var machine = results.GetProperty("Machine");
        var caption = string.Create(CultureInfo.InvariantCulture,
            $"{Text(machine, "Date")}, commit {Text(machine, "Commit")}, {Text(machine, "Cores")} × {Text(machine, "Cpu")}, {Text(machine, "Nginx")}");
        return Svg(cells, caption);
    }

    public static string Svg(IReadOnlyList<ChartCell> cells, string caption)
    {
        var concurrencies = cells.Select(c => c.Concurrency).Distinct().Order().ToArray();
        var series = Series.Where(s => cells.Any(c => c.Variant == s.Variant)).ToArray();
        var width = Left + (Panels.Length * PanelWidth) + 20;
        var height = Top + PanelHeight + 70;

        var svg = new StringBuilder();
        Append(svg, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">""");
        Append(svg, $"""<rect width="{width}" height="{height}" fill="#ffffff"/>""");
        Append(svg, $"""<text x="{Left}" y="20" font-size="14" font-weight="bold">What each adds over a direct HttpClient, at 1, 8 and 32 requests in flight</text>""");
        Append(svg, $"""<text x="{Left}" y="38" fill="#555555">{Escape(caption)}</text>""");

        for (var p = 0; p < Panels.Length; p++)
        {
            DrawPanel(svg, Left + (p * PanelWidth), Panels[p], cells, concurrencies, series);
        }

        var legendY = Top + PanelHeight + 52;
        for (var s = 0; s < series.Length; s++)
        {
            var x = Left + (s * 180);
            Append(svg, $"""<rect x="{x}" y="{legendY - 10}" width="12" height="12" fill="{series[s].Colour}"/>""");
            Append(svg, $"""<text x="{x + 18}" y="{legendY}">{Escape(series[s].Label)}</text>""");
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void DrawPanel(StringBuilder svg, int x0, (string Title, Func<ChartCell, double?> Value) panel,
        IReadOnlyList<ChartCell> cells, int[] concurrencies, (string Variant, string Label, string Colour)[] series)
    {
        var baseline = Top + PanelHeight;
        var max = 1.0;
        foreach (var cell in cells)
        {
            max = Math.Max(max, panel.Value(cell) ?? 0);
        }

        // Room above the tallest bar for its label.
        var scale = (PanelHeight - 24) / max;
        Append(svg, $"""<text x="{x0}" y="{Top - 4}" font-weight="bold">{Escape(panel.Title)}</text>""");
        Append(svg, $"""<line x1="{x0}" y1="{baseline}" x2="{x0 + PanelWidth - 20}" y2="{baseline}" stroke="#333333"/>""");

        var groupWidth = (series.Length * BarWidth) + GroupGap;
        for (var g = 0; g < concurrencies.Length; g++)
        {
            var groupX = x0 + 8 + (g * groupWidth);
            Append(svg, $"""<text x="{Format(groupX + (series.Length * BarWidth / 2.0))}" y="{baseline + 16}" text-anchor="middle">c = {concurrencies[g]}</text>""");
            for (var s = 0; s < series.Length; s++)
            {
                var cell = cells.FirstOrDefault(c => c.Variant == series[s].Variant && c.Concurrency == concurrencies[g]);
                if (cell is null || panel.Value(cell) is not { } value)
                {
                    continue;
                }

                // A variant faster than its floor in this run adds nothing to draw; its label still says by how much.
                var barHeight = Math.Max(0, value) * scale;
                var x = groupX + (s * BarWidth);
                Append(svg, $"""<rect class="bar" data-variant="{series[s].Variant}" data-concurrency="{concurrencies[g]}" data-value="{Format(value)}" x="{x + 1}" y="{Format(baseline - barHeight)}" width="{BarWidth - 2}" height="{Format(barHeight)}" fill="{series[s].Colour}"/>""");
                Append(svg, $"""<text x="{Format(x + (BarWidth / 2.0))}" y="{Format(baseline - barHeight - 3)}" text-anchor="middle" font-size="9">{Label(value)}</text>""");
            }
        }
    }

    private static double? Number(JsonElement cell, string name) =>
        cell.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;

    private static string Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value.ToString() : "unknown";

    private static string Label(double value)
    {
        var magnitude = Math.Abs(value);
        var text = magnitude.ToString(magnitude < 10 ? "0.0" : "0", CultureInfo.InvariantCulture);
        return value < 0 ? "−" + text : text;
    }

    private static string Format(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Escape(string text) => SecurityElement.Escape(text);

    private static void Append(StringBuilder svg, string element) => svg.Append(element).Append('\n');
}
