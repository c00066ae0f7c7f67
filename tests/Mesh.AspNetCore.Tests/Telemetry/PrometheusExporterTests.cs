using System.Diagnostics.Metrics;
using Mesh.AspNetCore.Telemetry;
using Mesh.Client;
using Mesh.Client.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Tests.Telemetry;

public sealed class PrometheusExporterTests : IDisposable
{
    private readonly ServiceProvider _services;
    private readonly string _meterName = "Test.Exporter." + Guid.NewGuid().ToString("N");
    private readonly Meter _meter;

    public PrometheusExporterTests()
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        _meter = new Meter(_meterName);
    }

    public void Dispose()
    {
        _meter.Dispose();
        _services.Dispose();
    }

    private PrometheusExporter Exporter(int maxSeries = 100)
    {
        var options = new MeshOptions { Telemetry = { MaxSeriesPerMetric = maxSeries } };
        options.Telemetry.Meters.Add(_meterName);
        return new PrometheusExporter(_services.GetRequiredService<IMeterFactory>(), Options.Create(options));
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void A_counter_is_a_total_with_help_type_and_sorted_labels()
    {
        using var exporter = Exporter();
        var counter = _meter.CreateCounter<long>("test.requests", "{request}", "Requests seen.");
        counter.Add(2, new("b", "2"), new("a", "1"));
        counter.Add(1, new("a", "1"), new("b", "2")); // the same label set in another order: the same series

        var lines = Lines(exporter.Scrape());
        lines.ShouldContain("# HELP test_requests_total Requests seen.");
        lines.ShouldContain("# TYPE test_requests_total counter");
        lines.Where(l => l.StartsWith("test_requests_total", StringComparison.Ordinal)).ShouldBe(["test_requests_total{a=\"1\",b=\"2\"} 3"]);
    }

    [Fact]
    public void Label_values_escape_quotes_backslashes_and_newlines_and_help_escapes_backslash_and_newline()
    {
        using var exporter = Exporter();
        var counter = _meter.CreateCounter<long>("test.escaped", null, "line one\nback\\slash");
        counter.Add(1, new KeyValuePair<string, object?>("path", "a\"b\\c\nd"), new KeyValuePair<string, object?>("bad.key-name", "x"));

        var lines = Lines(exporter.Scrape());
        lines.ShouldContain("# HELP test_escaped_total line one\\nback\\\\slash");
        lines.ShouldContain("test_escaped_total{bad_key_name=\"x\",path=\"a\\\"b\\\\c\\nd\"} 1");
    }

    [Fact]
    public void Histogram_buckets_are_cumulative_with_inf_sum_and_count_and_units_become_suffixes()
    {
        using var exporter = Exporter();
        var histogram = _meter.CreateHistogram<double>("test.duration", "s", "Durations.");
        histogram.Record(0.0007, new KeyValuePair<string, object?>("route", "r"));
        histogram.Record(0.003, new KeyValuePair<string, object?>("route", "r"));
        histogram.Record(20, new KeyValuePair<string, object?>("route", "r"));

        var lines = Lines(exporter.Scrape());
        lines.ShouldContain("# TYPE test_duration_seconds histogram");
        lines.ShouldContain("test_duration_seconds_bucket{route=\"r\",le=\"0.0005\"} 0");
        lines.ShouldContain("test_duration_seconds_bucket{route=\"r\",le=\"0.001\"} 1");
        lines.ShouldContain("test_duration_seconds_bucket{route=\"r\",le=\"0.0025\"} 1");
        lines.ShouldContain("test_duration_seconds_bucket{route=\"r\",le=\"0.005\"} 2");
        lines.ShouldContain("test_duration_seconds_bucket{route=\"r\",le=\"10\"} 2");
        lines.ShouldContain("test_duration_seconds_bucket{route=\"r\",le=\"+Inf\"} 3");
        lines.ShouldContain("test_duration_seconds_count{route=\"r\"} 3");
        var sum = lines.Single(l => l.StartsWith("test_duration_seconds_sum", StringComparison.Ordinal));
        double.Parse(sum.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture).ShouldBe(20.0037, 1e-9);

        // Buckets never decrease.
        var counts = lines.Where(l => l.StartsWith("test_duration_seconds_bucket", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        counts.ShouldBe(counts.Order().ToList());
    }

    [Fact]
    public void No_series_is_written_twice()
    {
        using var exporter = Exporter();
        var counter = _meter.CreateCounter<long>("test.dupes");
        counter.Add(1, new KeyValuePair<string, object?>("a.b", "x"));
        counter.Add(1, new KeyValuePair<string, object?>("a_b", "x")); // another tag key, the same Prometheus label
        var other = _meter.CreateCounter<long>("test_dupes"); // another instrument, the same Prometheus name
        other.Add(1);

        var lines = Lines(exporter.Scrape()).Where(l => !l.StartsWith('#')).ToList();
        lines.Select(l => l[..l.LastIndexOf(' ')]).ShouldBeUnique();
        Lines(exporter.Scrape()).Count(l => l == "# TYPE test_dupes_total counter").ShouldBe(1);
    }

    [Fact]
    public void Series_beyond_the_cap_are_dropped_and_counted()
    {
        using var exporter = Exporter(maxSeries: 2);
        var counter = _meter.CreateCounter<long>("test.capped");
        for (var i = 0; i < 5; i++)
        {
            counter.Add(1, new KeyValuePair<string, object?>("user", "u" + i));
        }

        var lines = Lines(exporter.Scrape());
        lines.Count(l => l.StartsWith("test_capped_total{", StringComparison.Ordinal)).ShouldBe(2);
        lines.ShouldContain("mesh_metrics_series_dropped_total{metric=\"test_capped_total\"} 3");
    }

    [Fact]
    public void Observable_instruments_are_read_at_scrape_and_gauges_keep_no_total_suffix()
    {
        using var exporter = Exporter();
        var value = 1L;
        _meter.CreateObservableGauge("test.queue", () => new Measurement<long>(value, new KeyValuePair<string, object?>("q", "a")), "By");
        _meter.CreateObservableCounter("test.ticks", () => value * 10);
        var updown = _meter.CreateUpDownCounter<int>("test.inflight");
        updown.Add(3);
        updown.Add(-1);

        var first = Lines(exporter.Scrape());
        first.ShouldContain("# TYPE test_queue_bytes gauge");
        first.ShouldContain("test_queue_bytes{q=\"a\"} 1");
        first.ShouldContain("test_ticks_total 10");
        first.ShouldContain("# TYPE test_inflight gauge");
        first.ShouldContain("test_inflight 2");

        value = 5;
        var second = Lines(exporter.Scrape());
        second.ShouldContain("test_queue_bytes{q=\"a\"} 5");
        second.ShouldContain("test_ticks_total 50");
    }

    [Fact]
    public void Meters_of_other_apps_in_the_process_are_not_exported()
    {
        using var exporter = Exporter();
        using var otherApp = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var otherMeter = otherApp.GetRequiredService<IMeterFactory>().Create(MeshTelemetry.MeterName);
        otherMeter.CreateCounter<long>("mesh.other_app").Add(1);

        exporter.Scrape().ShouldNotContain("mesh_other_app");
    }
}
