using Mesh.Client;
using Mesh.Client.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Mesh.AspNetCore.Telemetry;

/// <summary>
/// When <c>Mesh:Telemetry:Otlp:Endpoint</c> is set, runs the OpenTelemetry SDK for the app's lifetime: a tracer provider
/// for the mesh's and ASP.NET Core's spans and a meter provider for the exported meters, both pushing over OTLP. The
/// host wiring is done here because the SDK's hosting package cannot be restored. Spans leave through a batch
/// processor and metrics through a periodic reader, on their own threads with a bounded timeout: a collector that is
/// down costs a dropped batch, never a request.
/// </summary>
internal sealed partial class MeshOpenTelemetry(IOptions<MeshOptions> options, ILogger<MeshOpenTelemetry> logger) : IHostedService, IDisposable
{
    private TracerProvider? _tracerProvider;
    private MeterProvider? _meterProvider;

    /// <summary>Whether the providers run (OTLP configured and built).</summary>
    public bool IsExporting => _tracerProvider is not null;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var mesh = options.Value;
        var otlp = mesh.Telemetry.Otlp;
        if (otlp.Endpoint is not { } endpoint)
        {
            return Task.CompletedTask;
        }

        try
        {
            var protocol = otlp.Protocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
            var timeout = (int)Math.Clamp(otlp.Timeout.TotalMilliseconds, 1, int.MaxValue);
            var resource = ResourceBuilder.CreateDefault().AddService(mesh.Service.Name ?? "unknown", serviceVersion: mesh.Service.Version);
            void Configure(OtlpExporterOptions o)
            {
                // With http/protobuf the endpoint is the full signal path; a bare collector address gets the standard one.
                o.Endpoint = endpoint;
                o.Protocol = protocol;
                o.TimeoutMilliseconds = timeout;
            }

            _tracerProvider = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(resource)
                .AddSource(MeshTelemetry.ActivitySourceName, "Microsoft.AspNetCore")
                .AddOtlpExporter(o =>
                {
                    Configure(o);
                    if (protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath == "/")
                    {
                        o.Endpoint = new Uri(endpoint, "v1/traces");
                    }

                    o.ExportProcessorType = ExportProcessorType.Batch;
                })
                .Build();

            var meters = new List<string>(PrometheusExporter.MeshMeters);
            meters.AddRange(mesh.Telemetry.Meters);
            _meterProvider = Sdk.CreateMeterProviderBuilder()
                .SetResourceBuilder(resource)
                .AddMeter([.. meters])
                .AddOtlpExporter((o, reader) =>
                {
                    Configure(o);
                    if (protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath == "/")
                    {
                        o.Endpoint = new Uri(endpoint, "v1/metrics");
                    }

                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)otlp.MetricsInterval.TotalMilliseconds;
                    reader.PeriodicExportingMetricReaderOptions.ExportTimeoutMilliseconds = timeout;
                })
                .Build();
            LogStarted(logger, endpoint, otlp.Protocol);
        }
#pragma warning disable CA1031 // Telemetry export must never stop the app; the failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogFailed(logger, ex);
            Dispose();
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        // Shut down (a last flush, bounded by the export timeout) on a worker thread: stopping never hangs on a collector.
        var timeout = (int)Math.Clamp(options.Value.Telemetry.Otlp.Timeout.TotalMilliseconds, 1, int.MaxValue);
        var tracer = _tracerProvider;
        var meter = _meterProvider;
        return Task.Run(() =>
        {
            tracer?.Shutdown(timeout);
            meter?.Shutdown(timeout);
            Dispose();
        }, CancellationToken.None);
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _tracerProvider, null)?.Dispose();
        Interlocked.Exchange(ref _meterProvider, null)?.Dispose();
    }

    [LoggerMessage(30, LogLevel.Information, "OpenTelemetry export to {Endpoint} over {Protocol} started")]
    private static partial void LogStarted(ILogger logger, Uri endpoint, string protocol);

    [LoggerMessage(31, LogLevel.Error, "OpenTelemetry export could not start; the app runs without it")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
