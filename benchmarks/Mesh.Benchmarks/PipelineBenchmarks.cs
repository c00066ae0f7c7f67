using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Benchmarks;

/// <summary>
/// The cost of one request through each outbound pipeline, over the same no-network terminal handler. Every
/// variant makes a new request per operation, as callers do, and gets a new 200 response from the terminal.
/// The terminal completes synchronously, so the result is read straight from the task: what is measured is the
/// pipeline, not the awaiting.
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private static readonly Uri OtherHost = new("http://api.example.com/api/reviews/1");

    private TerminalHandler _terminal = null!;
    private HttpMessageInvoker _bare = null!;
    private HttpMessageInvoker _polly = null!;
    private HttpMessageInvoker _mesh = null!;
    private ServiceProvider? _services;
    private TelemetryListeners? _telemetry;
    private Mesh.AspNetCore.Telemetry.PrometheusExporter? _exporter;

    [GlobalSetup(Targets = [nameof(Bare), nameof(PollyOnly), nameof(MeshTelemetryOff), nameof(MeshPassThrough)])]
    public void Setup() => Setup(telemetry: false);

    [GlobalSetup(Target = nameof(MeshTelemetryOn))]
    public void SetupWithTelemetry() => Setup(telemetry: true);

    [GlobalSetup(Target = nameof(MeshPrometheus))]
    public void SetupWithPrometheus() => Setup(telemetry: false, prometheus: true);

    [GlobalCleanup]
    public void Cleanup()
    {
        _bare.Dispose();
        _polly.Dispose();
        _mesh.Dispose();
        _services?.Dispose();
        _telemetry?.Dispose();
    }

    /// <summary>No pipeline: the caller straight onto the transport.</summary>
    [Benchmark(Baseline = true)]
    public HttpStatusCode Bare() => Send(_bare, MeshSetup.RequestUri);

    /// <summary>What a user writes instead of the mesh: Polly.Core timeout, retry and circuit breaker in a handler.</summary>
    [Benchmark]
    public HttpStatusCode PollyOnly() => Send(_polly, MeshSetup.RequestUri);

    /// <summary>The full mesh pipeline, nobody listening to its telemetry.</summary>
    [Benchmark]
    public HttpStatusCode MeshTelemetryOff() => Send(_mesh, MeshSetup.RequestUri);

    /// <summary>The full mesh pipeline with its meter and activity source listened to, as an exporter would.</summary>
    [Benchmark]
    public HttpStatusCode MeshTelemetryOn() => Send(_mesh, MeshSetup.RequestUri);

    /// <summary>
    /// The full mesh pipeline with the mesh's own Prometheus exporter listening to its meter, as
    /// <c>MapMeshEndpoints()</c> runs it: every measurement lands in the exporter's series tables.
    /// </summary>
    [Benchmark]
    public HttpStatusCode MeshPrometheus() => Send(_mesh, MeshSetup.RequestUri);

    /// <summary>A request to a host that is not a mesh service: the mesh handler lets it through.</summary>
    [Benchmark]
    public HttpStatusCode MeshPassThrough() => Send(_mesh, OtherHost);

    private static HttpStatusCode Send(HttpMessageInvoker invoker, Uri uri)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        using var response = invoker.SendAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        return response.StatusCode;
    }

    private void Setup(bool telemetry, bool prometheus = false)
    {
        if (telemetry)
        {
            // Before the mesh is built, as an app's exporter would be: instruments are enabled as they are published.
            _telemetry = new TelemetryListeners();
        }

        _terminal = new TerminalHandler();
        _bare = new HttpMessageInvoker(_terminal, disposeHandler: false);
        _polly = new HttpMessageInvoker(new PollyHandler(_terminal), disposeHandler: false);
        var (handler, services) = MeshSetup.Create(_terminal);
        _services = services;
        if (prometheus)
        {
            _exporter = services.GetRequiredService<Mesh.AspNetCore.Telemetry.PrometheusExporter>();
        }
        _mesh = new HttpMessageInvoker(handler, disposeHandler: false);

        MeshSetup.Verify(_bare, _terminal, expectMesh: false);
        MeshSetup.Verify(_polly, _terminal, expectMesh: false);
        MeshSetup.Verify(_mesh, _terminal, expectMesh: true);
        if (telemetry && (_telemetry!.Measurements == 0 || _telemetry.Spans == 0))
        {
            throw new InvalidOperationException("Telemetry is on but nothing was recorded.");
        }

        if (prometheus && !_exporter!.Scrape().Contains("mesh_requests_total{", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("The Prometheus exporter listens but recorded no request.");
        }
    }
}
