using System.Text;
using Mesh.Client.Configuration;
using Microsoft.Extensions.Configuration;

namespace Mesh.Client.Tests;

public sealed class TelemetryOptionsTests
{
    private static MeshOptions Read(string meshJson)
    {
        var config = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("{ \"Mesh\": " + meshJson + " }")))
            .Build();
        var options = new MeshOptions();
        MeshConfigurationReader.Read(config.GetSection("Mesh"), options);
        return options;
    }

    [Fact]
    public void The_telemetry_section_is_read_and_off_by_default()
    {
        var defaults = Read("{}").Telemetry;
        defaults.AccessLog.ShouldBeFalse();
        defaults.Otlp.Endpoint.ShouldBeNull();
        defaults.Meters.ShouldBeEmpty();

        var options = Read("""
            { "Telemetry": { "Meters": [ "Shop.Orders" ], "AccessLog": true, "MaxSeriesPerMetric": 50,
              "Otlp": { "Endpoint": "http://127.0.0.1:4317", "Protocol": "http/protobuf", "MetricsInterval": "00:00:05", "Timeout": "00:00:02" } } }
            """);
        PolicyValidator.Validate(options).ShouldBeEmpty();
        options.Telemetry.Meters.ShouldBe(["Shop.Orders"]);
        options.Telemetry.AccessLog.ShouldBeTrue();
        options.Telemetry.MaxSeriesPerMetric.ShouldBe(50);
        options.Telemetry.Otlp.Endpoint.ShouldBe(new Uri("http://127.0.0.1:4317"));
        options.Telemetry.Otlp.Protocol.ShouldBe("http/protobuf");
        options.Telemetry.Otlp.MetricsInterval.ShouldBe(TimeSpan.FromSeconds(5));
        options.Telemetry.Otlp.Timeout.ShouldBe(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void Bad_telemetry_settings_are_reported_with_their_paths()
    {
        var errors = PolicyValidator.Validate(Read("""
            { "Telemetry": { "Meters": [ " " ], "AccessLog": "sometimes", "MaxSeriesPerMetric": 0, "Colour": "red",
              "Otlp": { "Endpoint": "ftp://collector", "Protocol": "carrier-pigeon", "MetricsInterval": "00:00:00", "Timeout": "soon" } } }
            """));
        errors.ShouldContain(e => e.StartsWith("Mesh:Telemetry:Meters:0:", StringComparison.Ordinal));
        errors.ShouldContain(e => e.StartsWith("Mesh:Telemetry:AccessLog", StringComparison.Ordinal));
        errors.ShouldContain(e => e.StartsWith("Mesh:Telemetry:MaxSeriesPerMetric:", StringComparison.Ordinal));
        errors.ShouldContain(e => e.Contains("Mesh:Telemetry:Colour", StringComparison.Ordinal));
        errors.ShouldContain(e => e.StartsWith("Mesh:Telemetry:Otlp:Endpoint:", StringComparison.Ordinal));
        errors.ShouldContain(e => e.StartsWith("Mesh:Telemetry:Otlp:Protocol:", StringComparison.Ordinal));
        errors.ShouldContain(e => e.StartsWith("Mesh:Telemetry:Otlp:MetricsInterval:", StringComparison.Ordinal));
        errors.ShouldContain(e => e.StartsWith("Mesh:Telemetry:Otlp:Timeout", StringComparison.Ordinal));
    }

    [Fact]
    public void The_metrics_listener_is_read_and_off_by_default()
    {
        Read("{}").Telemetry.MetricsListener.ShouldBeNull();
        var options = Read("""{ "Telemetry": { "MetricsListener": "http://0.0.0.0:9464" } }""");
        PolicyValidator.Validate(options).ShouldBeEmpty();
        options.Telemetry.MetricsListener.ShouldBe(new Uri("http://0.0.0.0:9464"));
        PolicyValidator.Validate(Read("""{ "Telemetry": { "MetricsListener": "http://[::1]:0" } }""")).ShouldBeEmpty();
        PolicyValidator.Validate(Read("""{ "Telemetry": { "MetricsListener": "http://localhost:9464" } }""")).ShouldBeEmpty();
    }

    [Theory]
    [InlineData("https://0.0.0.0:9464")]
    [InlineData("http://metrics.example:9464")]
    [InlineData("http://0.0.0.0:9464/metrics")]
    [InlineData("http://user@0.0.0.0:9464")]
    [InlineData("not a url")]
    public void A_bad_metrics_listener_is_reported_with_its_path(string listener)
    {
        var errors = PolicyValidator.Validate(Read($$"""{ "Telemetry": { "MetricsListener": "{{listener}}", "MaxSeriesPerMetric": 0 } }"""));
        errors.ShouldContain(e => e.StartsWith("Mesh:Telemetry:MetricsListener", StringComparison.Ordinal));
        errors.ShouldContain(e => e.StartsWith("Mesh:Telemetry:MaxSeriesPerMetric:", StringComparison.Ordinal));
    }
}
