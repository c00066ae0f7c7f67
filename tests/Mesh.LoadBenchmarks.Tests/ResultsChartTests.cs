using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;

namespace Mesh.LoadBenchmarks.Tests;

/// <summary>The report's chart is drawn from a results file: one bar per variant, concurrency and measure.</summary>
public sealed class ResultsChartTests : IDisposable
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private readonly string _directory = Directory.CreateTempSubdirectory("mesh-chart-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Each_variant_gets_a_bar_per_concurrency_and_measure_scaled_within_its_panel()
    {
        var svg = XDocument.Parse(ResultsChart.Svg(Results().RootElement));

        var bars = Bars(svg);
        // mesh, nginx and nginx-pair at c = 1 and 32, in three panels; direct (the floor) has nothing added to draw.
        bars.Count.ShouldBe(18);
        bars.ShouldNotContain(b => b.Variant == "direct");

        // The p99 panel: nginx-pair's 400 µs is the tallest, nginx's 200 µs half its height, the mesh's 40 µs a tenth.
        var p99 = bars.Skip(6).Take(6).ToList();
        var pair = p99.Single(b => b.Variant == "nginx-pair" && b.Concurrency == 32).Height;
        p99.Single(b => b.Variant == "nginx" && b.Concurrency == 32).Height.ShouldBe(pair / 2, 0.01);
        p99.Single(b => b.Variant == "mesh" && b.Concurrency == 32).Height.ShouldBe(pair / 10, 0.01);

        svg.Descendants(Svg + "text").Select(t => t.Value).ShouldContain("2026-12-01 11:25 UTC, commit c400391, 2 × AMD EPYC, nginx/1.22.1");
    }

    [Fact]
    public void A_variant_faster_than_its_floor_draws_no_bar_but_says_by_how_much()
    {
        var svg = XDocument.Parse(ResultsChart.Svg(Results().RootElement));

        var mesh = Bars(svg).First(b => b.Variant == "mesh" && b.Concurrency == 1);
        mesh.Value.ShouldBe(-11.0);
        mesh.Height.ShouldBe(0);
        svg.Descendants(Svg + "text").Select(t => t.Value).ShouldContain("−11");
    }

    [Fact]
    public async Task The_chart_command_writes_the_svg_of_a_results_file()
    {
        var json = Path.Combine(_directory, "results.json");
        var chart = Path.Combine(_directory, "results.svg");
        await File.WriteAllTextAsync(json, Results().RootElement.GetRawText());
        var output = new StringWriter();

        var code = await ResultsChart.RunAsync(["chart", json, chart], output, new StringWriter());

        code.ShouldBe(0);
        Bars(XDocument.Load(chart)).Count.ShouldBe(18);
        output.ToString().ShouldContain(chart);
    }

    [Fact]
    public async Task The_chart_command_without_its_files_is_a_usage_error()
    {
        var error = new StringWriter();

        (await ResultsChart.RunAsync(["chart"], new StringWriter(), error)).ShouldBe(64);
        error.ToString().ShouldStartWith("usage: chart");
    }

    private static List<(string Variant, int Concurrency, double Value, double Height)> Bars(XDocument svg) =>
        [.. svg.Descendants(Svg + "rect")
            .Where(r => (string?)r.Attribute("class") == "bar")
            .Select(r => (
                (string)r.Attribute("data-variant")!,
                int.Parse((string)r.Attribute("data-concurrency")!, CultureInfo.InvariantCulture),
                double.Parse((string)r.Attribute("data-value")!, CultureInfo.InvariantCulture),
                double.Parse((string)r.Attribute("height")!, CultureInfo.InvariantCulture)))];

    private static JsonDocument Results() => JsonDocument.Parse("""
        {
          "Machine": { "Date": "2026-12-01 11:25 UTC", "Cpu": "AMD EPYC", "Cores": 2, "Nginx": "nginx/1.22.1", "Commit": "c400391" },
          "Cells": [
            { "Variant": "direct", "Concurrency": 1, "AddedP50Us": null, "AddedP99Us": null, "AddedMachineCpuMsPer1k": null },
            { "Variant": "mesh", "Concurrency": 1, "AddedP50Us": -11.0, "AddedP99Us": -12.8, "AddedMachineCpuMsPer1k": -29.9 },
            { "Variant": "nginx", "Concurrency": 1, "AddedP50Us": 65.7, "AddedP99Us": 109.8, "AddedMachineCpuMsPer1k": 128.4 },
            { "Variant": "nginx-pair", "Concurrency": 1, "AddedP50Us": 112.3, "AddedP99Us": 147.7, "AddedMachineCpuMsPer1k": 223.9 },
            { "Variant": "direct", "Concurrency": 32, "AddedP50Us": null, "AddedP99Us": null, "AddedMachineCpuMsPer1k": null },
            { "Variant": "mesh", "Concurrency": 32, "AddedP50Us": 18.4, "AddedP99Us": 40, "AddedMachineCpuMsPer1k": 1.2 },
            { "Variant": "nginx", "Concurrency": 32, "AddedP50Us": 603.1, "AddedP99Us": 200, "AddedMachineCpuMsPer1k": 32.8 },
            { "Variant": "nginx-pair", "Concurrency": 32, "AddedP50Us": 1223.7, "AddedP99Us": 400, "AddedMachineCpuMsPer1k": 73.7 }
          ]
        }
        """);
}
