using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

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
    private HttpMessageInvoker _aspire = null!;
    private ServiceProvider? _bareServices;
    private ServiceProvider? _pollyServices;
    private ServiceProvider? _services;
    private ServiceProvider? _aspireServices;
    private TelemetryListeners? _telemetry;
    private IDisposable? _exporter;

    private enum Listening
    {
        None,
        Mesh,
        Aspire,
        PrometheusNet,
        OpenTelemetryPrometheus,
    }

    [GlobalSetup(Targets = [nameof(Bare), nameof(PollyOnly), nameof(AspireTelemetryOff), nameof(MeshTelemetryOff), nameof(MeshPassThrough)])]
    public void Setup() => Setup(Listening.None);

    [GlobalSetup(Target = nameof(MeshTelemetryOn))]
    public void SetupWithTelemetry() => Setup(Listening.Mesh);

    [GlobalSetup(Target = nameof(AspireTelemetryOn))]
    public void SetupAspireWithTelemetry() => Setup(Listening.Aspire);

    [GlobalSetup(Target = nameof(MeshPrometheusNet))]
    public void SetupWithPrometheusNet() => Setup(Listening.PrometheusNet);

    [GlobalSetup(Target = nameof(MeshOpenTelemetryPrometheus))]
    public void SetupWithOpenTelemetryPrometheus() => Setup(Listening.OpenTelemetryPrometheus);

    [GlobalCleanup]
    public void Cleanup()
    {
        _bare.Dispose();
        _polly.Dispose();
        _mesh.Dispose();
        _aspire.Dispose();
        _exporter?.Dispose();
        _services?.Dispose();
        _bareServices?.Dispose();
        _pollyServices?.Dispose();
        _aspireServices?.Dispose();
        _telemetry?.Dispose();
    }

    /// <summary>No pipeline: the caller straight onto the transport.</summary>
    [Benchmark(Baseline = true)]
    public HttpStatusCode Bare() => Send(_bare, MeshSetup.RequestUri);

    /// <summary>What a user writes instead of the mesh: Polly.Core timeout, retry and circuit breaker in a handler.</summary>
    [Benchmark]
    public HttpStatusCode PollyOnly() => Send(_polly, MeshSetup.RequestUri);

    /// <summary>
    /// What an Aspire app has instead: service discovery under the standard resilience handler, nobody listening.
    /// </summary>
    [Benchmark]
    public HttpStatusCode AspireTelemetryOff() => Send(_aspire, MeshSetup.RequestUri);

    /// <summary>The Aspire stack with HttpClient's, Polly's and Microsoft.Extensions' meters and sources listened to.</summary>
    [Benchmark]
    public HttpStatusCode AspireTelemetryOn() => Send(_aspire, MeshSetup.RequestUri);

    /// <summary>The full mesh pipeline, nobody listening to its telemetry.</summary>
    [Benchmark]
    public HttpStatusCode MeshTelemetryOff() => Send(_mesh, MeshSetup.RequestUri);

    /// <summary>The full mesh pipeline with its meter and activity source listened to, as an exporter would.</summary>
    [Benchmark]
    public HttpStatusCode MeshTelemetryOn() => Send(_mesh, MeshSetup.RequestUri);

    /// <summary>The full mesh pipeline with prometheus-net's meter adapter listening to the mesh's meter.</summary>
    [Benchmark]
    public HttpStatusCode MeshPrometheusNet() => Send(_mesh, MeshSetup.RequestUri);

    /// <summary>
    /// The full mesh pipeline with an OpenTelemetry meter provider and its Prometheus exporter on the mesh's meter, the
    /// exporter <c>MapMeshEndpoints()</c> serves <c>/metrics</c> from.
    /// </summary>
    [Benchmark]
    public HttpStatusCode MeshOpenTelemetryPrometheus() => Send(_mesh, MeshSetup.RequestUri);

    /// <summary>A request to a host that is not a mesh service: the mesh handler lets it through.</summary>
    [Benchmark]
    public HttpStatusCode MeshPassThrough() => Send(_mesh, OtherHost);

    private static HttpStatusCode Send(HttpMessageInvoker invoker, Uri uri)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        using var response = invoker.SendAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        return response.StatusCode;
    }

    private void Setup(Listening listening)
    {
        // Before the stacks are built, as an app's exporter would be: instruments are enabled as they are published.
        _telemetry = listening switch
        {
            Listening.Mesh => new TelemetryListeners(),
            Listening.Aspire => new TelemetryListeners(TelemetryListeners.AspireSources),
            _ => null,
        };
        _exporter = listening switch
        {
            Listening.PrometheusNet => Prometheus.MeterAdapter.StartListening(new Prometheus.MeterAdapterOptions
            {
                InstrumentFilterPredicate = static i => i.Meter.Name == "Mesh.Client",
                Registry = Prometheus.Metrics.NewCustomRegistry(),
            }),
            Listening.OpenTelemetryPrometheus => Sdk.CreateMeterProviderBuilder().AddMeter("Mesh.Client").AddPrometheusExporter().Build(),
            _ => null,
        };

        _terminal = new TerminalHandler();
        var (bareHandler, bareServices) = FactoryClient.Bare(_terminal);
        _bareServices = bareServices;
        _bare = new HttpMessageInvoker(bareHandler, disposeHandler: false);
        var (pollyHandler, pollyServices) = FactoryClient.Polly(_terminal);
        _pollyServices = pollyServices;
        _polly = new HttpMessageInvoker(pollyHandler, disposeHandler: false);
        var (handler, services) = MeshSetup.Create(_terminal);
        _services = services;
        _mesh = new HttpMessageInvoker(handler, disposeHandler: false);
        var (aspireHandler, aspireServices) = AspireSetup.Create(_terminal);
        _aspireServices = aspireServices;
        _aspire = new HttpMessageInvoker(aspireHandler, disposeHandler: false);

        MeshSetup.Verify(_bare, _terminal, expectMesh: false);
        MeshSetup.Verify(_polly, _terminal, expectMesh: false);
        MeshSetup.Verify(_aspire, _terminal, expectMesh: true);
        var before = _telemetry?.Measurements ?? 0;
        MeshSetup.Verify(_mesh, _terminal, expectMesh: true);
        if (listening == Listening.Mesh && (_telemetry!.Measurements == before || _telemetry.Spans == 0))
        {
            throw new InvalidOperationException("Telemetry is on but nothing was recorded.");
        }

        if (listening == Listening.Aspire && _telemetry!.Measurements == 0)
        {
            throw new InvalidOperationException("The Aspire stack is listened to but recorded nothing.");
        }

        if (listening is Listening.PrometheusNet or Listening.OpenTelemetryPrometheus &&
            !services.GetRequiredService<Mesh.Client.Runtime.MeshRuntime>().Telemetry.RequestsEnabled)
        {
            throw new InvalidOperationException("The exporter does not listen to the mesh's request instruments.");
        }
    }
}
