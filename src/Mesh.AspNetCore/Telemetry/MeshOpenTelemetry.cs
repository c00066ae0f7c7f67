using System.Diagnostics.Metrics;
using Mesh.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// Configures the app's OpenTelemetry providers (the ones <c>AddOpenTelemetry()</c> builds, shared with the app's own
/// configuration). When <c>MapMeshEndpoints()</c> mapped <c>/metrics</c>, the meter provider gets OpenTelemetry's
/// Prometheus exporter and the exported meters. When <c>Mesh:Telemetry:Otlp:Endpoint</c> is set, it adds OTLP export:
/// the mesh's and ASP.NET Core's spans and the exported meters. Spans leave through a batch processor and metrics
/// through a periodic reader, on their own threads with a bounded timeout: a collector that is down costs a dropped
/// batch, never a request.
/// </summary>
internal sealed partial class MeshOpenTelemetry(
    IOptions<MeshOptions> options, IMeterFactory meterFactory, MeshMetricsEndpoint metricsEndpoint, ILogger<MeshOpenTelemetry> logger)
{
    private volatile bool _exporting;

    /// <summary>Whether OTLP export runs (configured, and the exporters were built).</summary>
    public bool IsExporting => _exporting;

    /// <summary>Called while the tracer provider is built.</summary>
    public void ConfigureTracing(TracerProviderBuilder tracing)
    {
        var mesh = options.Value;
        if (mesh.Telemetry.Otlp.Endpoint is not { } endpoint)
        {
            return;
        }

        try
        {
            // The exporter is made here, not with AddOtlpExporter: that one registers services, which the container,
            // already built when this runs, does not take.
            var exporter = new OtlpTraceExporter(ExporterOptions(mesh, endpoint, "v1/traces"));
            tracing
                .ConfigureResource(r => Describe(r, mesh))
                .AddMeshInstrumentation()
                .AddSource("Microsoft.AspNetCore")
                .AddProcessor(new BatchActivityExportProcessor(exporter));
            _exporting = true;
            LogStarted(logger, endpoint, mesh.Telemetry.Otlp.Protocol);
        }
#pragma warning disable CA1031 // Telemetry export must never stop the app; the failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogFailed(logger, ex);
        }
    }

    /// <summary>Called while the meter provider is built.</summary>
    public void ConfigureMetrics(MeterProviderBuilder metrics)
    {
        var mesh = options.Value;
        var otlp = mesh.Telemetry.Otlp;
        string[] exported = [.. MeshInstrumentation.Meters, .. mesh.Telemetry.Meters];

        // On every reader of this provider, the app's own included: another app's instruments are never this app's.
        metrics.AddView(new MeshMetricStreams(meterFactory, exported, mesh.Telemetry.MaxSeriesPerMetric).Configure);
        // The metrics listener serves the same exporter as /metrics, whether or not the app maps that.
        var prometheus = metricsEndpoint.Mapped || mesh.Telemetry.MetricsListener is not null;
        if (prometheus || otlp.Endpoint is not null)
        {
            metrics.ConfigureResource(r => Describe(r, mesh)).AddMeter(exported);
        }

        if (prometheus)
        {
            // Options were set by AddMesh(); without a configure callback the exporter registers no services, which the
            // container, already built when this runs, would not take.
            metrics.AddPrometheusExporter();
        }

        if (otlp.Endpoint is not { } endpoint)
        {
            return;
        }

        try
        {
            var exporter = new OtlpMetricExporter(ExporterOptions(mesh, endpoint, "v1/metrics"));
            var reader = new PeriodicExportingMetricReader(exporter, (int)otlp.MetricsInterval.TotalMilliseconds, TimeoutMilliseconds(mesh));
            metrics.AddReader(reader);
        }
#pragma warning disable CA1031 // Telemetry export must never stop the app; the failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogFailed(logger, ex);
        }
    }

    private static void Describe(ResourceBuilder resource, MeshOptions mesh) =>
        resource.AddService(mesh.Service.Name ?? "unknown", serviceVersion: mesh.Service.Version);

    private static int TimeoutMilliseconds(MeshOptions mesh) =>
        (int)Math.Clamp(mesh.Telemetry.Otlp.Timeout.TotalMilliseconds, 1, int.MaxValue);

    private static OtlpExporterOptions ExporterOptions(MeshOptions mesh, Uri endpoint, string signalPath)
    {
        var protocol = mesh.Telemetry.Otlp.Protocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
        return new OtlpExporterOptions
        {
            // With http/protobuf the endpoint is the full signal path; a bare collector address gets the standard one.
            Endpoint = protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath == "/" ? new Uri(endpoint, signalPath) : endpoint,
            Protocol = protocol,
            TimeoutMilliseconds = TimeoutMilliseconds(mesh),
        };
    }

    [LoggerMessage(30, LogLevel.Information, "OpenTelemetry export to {Endpoint} over {Protocol} started")]
    private static partial void LogStarted(ILogger logger, Uri endpoint, string protocol);

    [LoggerMessage(31, LogLevel.Error, "OpenTelemetry export could not start; the app runs without it")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
