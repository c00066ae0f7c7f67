using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.InteropServices;
using Mesh.Client.Http;
using Mesh.Client.Internal;
using Mesh.Client.Runtime;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace Mesh.Benchmarks;

/// <summary>
/// A quick profile of the mesh pipeline without a profiler (<c>-- --breakdown</c>): the whole pipeline with one
/// feature turned off at a time, then its stages on their own. Times are the best of many short runs of a tight loop,
/// as thread CPU time and as wall time;
/// allocations come from <see cref="GC.GetAllocatedBytesForCurrentThread"/>, so they are exact. Indicative only:
/// BenchmarkDotNet's numbers are the ones to quote.
/// </summary>
internal static class Breakdown
{
    private static int _iterations = 10_000;
    private static int _runs = 60;

    public static void Run(bool longRun, bool quick = false)
    {
        if (longRun)
        {
            _iterations = 20_000;
            _runs = 200;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"case",-58} {"cpu ns",9} {"wall ns",9} {"B/op",7}"));
        Console.WriteLine(new string('-', 86));

        if (quick)
        {
            // Only the pipelines and the exporters, with many runs each: for before/after comparisons on a noisy machine.
            _iterations = 5_000;
            _runs = 300;
            QuickPipelines();
            return;
        }

        Pipelines();
        Stages(telemetry: false);
        Stages(telemetry: true);
    }

    /// <summary>Allocations by type of each pipeline.</summary>
    public static void Allocations()
    {
        var terminal = new TerminalHandler();
        var (bareHandler, bareServices) = FactoryClient.Bare(terminal);
        using var bareOwner = bareServices;
        using var bare = new HttpMessageInvoker(bareHandler, disposeHandler: false);
        AllocationProfile.Run("Bare", () => Send(bare));
        var (pollyHandler, pollyServices) = FactoryClient.Polly(terminal);
        using var pollyOwner = pollyServices;
        using var polly = new HttpMessageInvoker(pollyHandler, disposeHandler: false);
        AllocationProfile.Run("PollyOnly", () => Send(polly));
        var (handler, services) = MeshSetup.Create(terminal);
        using (services)
        using (var invoker = new HttpMessageInvoker(handler, disposeHandler: false))
        {
            MeshSetup.Verify(invoker, terminal, expectMesh: true);
            AllocationProfile.Run("Mesh (telemetry off)", () => Send(invoker));
            using (new TelemetryListeners())
            {
                AllocationProfile.Run("Mesh (telemetry on)", () => Send(invoker));
            }
        }
    }

    /// <summary>CPU profiles of the mesh request, telemetry off and on.</summary>
    public static void Profile()
    {
        var terminal = new TerminalHandler();
        var (handler, services) = MeshSetup.Create(terminal);
        using (services)
        using (var invoker = new HttpMessageInvoker(handler, disposeHandler: false))
        {
            MeshSetup.Verify(invoker, terminal, expectMesh: true);
            CpuProfile.Run("Mesh (telemetry off)", () => Send(invoker), TimeSpan.FromSeconds(8));
            using (new TelemetryListeners())
            {
                CpuProfile.Run("Mesh (telemetry on)", () => Send(invoker), TimeSpan.FromSeconds(8));
            }
        }

        var (pollyHandler, pollyServices) = FactoryClient.Polly(terminal);
        using var pollyOwner = pollyServices;
        using var polly = new HttpMessageInvoker(pollyHandler, disposeHandler: false);
        CpuProfile.Run("PollyOnly", () => Send(polly), TimeSpan.FromSeconds(5), top: 25);
    }

    private static void QuickPipelines()
    {
        var terminal = new TerminalHandler();
        var (bareHandler, bareServices) = FactoryClient.Bare(terminal);
        using var bareOwner = bareServices;
        using var bare = new HttpMessageInvoker(bareHandler, disposeHandler: false);
        var (pollyHandler, pollyServices) = FactoryClient.Polly(terminal);
        using var pollyOwner = pollyServices;
        using var polly = new HttpMessageInvoker(pollyHandler, disposeHandler: false);
        Report("Bare", () => Send(bare));
        Report("PollyOnly", () => Send(polly));
        MeshVariant("Mesh (telemetry off)", terminal, null);
        using (new TelemetryListeners())
        {
            MeshVariant("Mesh (telemetry on)", terminal, null);
        }

        // What every metrics exporter row shares: the mesh recording its request instruments for a listener that
        // only counts. An exporter's own cost per request is its row minus this one.
        using (new TelemetryListeners(static name => name == "Mesh.Client", spans: false))
        {
            MeshVariant("Mesh (metrics only, counting listener)", terminal, null);
        }

        using (Prometheus.MeterAdapter.StartListening(new Prometheus.MeterAdapterOptions
        {
            InstrumentFilterPredicate = static i => i.Meter.Name == "Mesh.Client",
            Registry = Prometheus.Metrics.NewCustomRegistry(),
        }))
        {
            MeshVariant("Mesh (prometheus-net MeterAdapter listening)", terminal, null);
        }

        using (OpenTelemetry.Sdk.CreateMeterProviderBuilder().AddMeter("Mesh.Client").AddPrometheusExporter().Build())
        {
            MeshVariant("Mesh (OpenTelemetry Prometheus exporter listening)", terminal, null);
        }

        var (aspireHandler, aspireServices) = AspireSetup.Create(terminal);
        using (aspireServices)
        using (var aspire = new HttpMessageInvoker(aspireHandler, disposeHandler: false))
        {
            MeshSetup.Verify(aspire, terminal, expectMesh: true);
            Report("Aspire (telemetry off)", () => Send(aspire));
        }

        using (new TelemetryListeners(TelemetryListeners.AspireSources))
        {
            var (listenedHandler, listenedServices) = AspireSetup.Create(terminal);
            using (listenedServices)
            using (var aspire = new HttpMessageInvoker(listenedHandler, disposeHandler: false))
            {
                MeshSetup.Verify(aspire, terminal, expectMesh: true);
                Report("Aspire (telemetry on)", () => Send(aspire));
            }
        }
    }

    private static void Pipelines()
    {
        var terminal = new TerminalHandler();
        var (bareHandler, bareServices) = FactoryClient.Bare(terminal);
        using var bareOwner = bareServices;
        using var bare = new HttpMessageInvoker(bareHandler, disposeHandler: false);
        var (pollyHandler, pollyServices) = FactoryClient.Polly(terminal);
        using var pollyOwner = pollyServices;
        using var polly = new HttpMessageInvoker(pollyHandler, disposeHandler: false);
        Report("Bare", () => Send(bare));
        Report("PollyOnly", () => Send(polly));

        MeshVariant("Mesh (telemetry off)", terminal, null);
        MeshVariant("  without circuit breaker", terminal, s => s["Mesh:Services:reviews:CircuitBreaker:Enabled"] = "false");
        MeshVariant("  without retry (Attempts 0)", terminal, s => s["Mesh:Services:reviews:Routes:1:Retry:Attempts"] = "0");
        MeshVariant("  without route timeout", terminal, s => s.Remove("Mesh:Services:reviews:Routes:1:Timeout"));
        MeshVariant("  without the header route", terminal, RemoveHeaderRoute);
        MeshVariant("  RoundRobin instead of PeakEwma", terminal, s => s["Mesh:Services:reviews:LoadBalancer:Policy"] = "RoundRobin");
        MeshVariant("  without outlier detection", terminal, s => s["Mesh:Services:reviews:OutlierDetection:Consecutive5xxErrors"] = "0");
        MeshVariant("  bare minimum (no breaker/retry/timeout/header route)", terminal, s =>
        {
            RemoveHeaderRoute(s);
            s["Mesh:Services:reviews:CircuitBreaker:Enabled"] = "false";
            s["Mesh:Services:reviews:Routes:0:Retry:Attempts"] = "0";
            s.Remove("Mesh:Services:reviews:Routes:0:Timeout");
        });

        using (new TelemetryListeners())
        {
            MeshVariant("Mesh (telemetry on)", terminal, null);
        }

        using (OpenTelemetry.Sdk.CreateMeterProviderBuilder().AddMeter("Mesh.Client").AddPrometheusExporter().Build())
        {
            MeshVariant("Mesh (OpenTelemetry Prometheus exporter listening)", terminal, null);
        }
    }

    private static void RemoveHeaderRoute(Dictionary<string, string?> settings)
    {
        foreach (var key in settings.Keys.ToList())
        {
            if (key.StartsWith("Mesh:Services:reviews:Routes:", StringComparison.Ordinal))
            {
                var value = settings[key];
                settings.Remove(key);
                if (key.StartsWith("Mesh:Services:reviews:Routes:1:", StringComparison.Ordinal))
                {
                    settings["Mesh:Services:reviews:Routes:0:" + key["Mesh:Services:reviews:Routes:1:".Length..]] = value;
                }
            }
        }
    }

    private static void MeshVariant(string name, TerminalHandler terminal, Action<Dictionary<string, string?>>? edit)
    {
        var (handler, services) = MeshSetup.Create(terminal, edit);
        using (services)
        using (var invoker = new HttpMessageInvoker(handler, disposeHandler: false))
        {
            MeshSetup.Verify(invoker, terminal, expectMesh: true);
            Report(name, () => Send(invoker));
        }
    }

    /// <summary>The stages of one mesh request, each on its own, in the order the handler runs them.</summary>
    private static void Stages(bool telemetry)
    {
        using var listeners = telemetry ? new TelemetryListeners() : null;
        var suffix = telemetry ? " [telemetry on]" : string.Empty;
        var terminal = new TerminalHandler();
        var (handler, services) = MeshSetup.Create(terminal);
        using var owner = services;
        var runtime = services.GetRequiredService<MeshRuntime>();
        runtime.TryGetService("reviews", out var service);
        var route = service.Routes[1];
        var destination = route.PickDestination(runtime.Random);
        var endpoint = destination.Picker.Endpoints[0];
        var uri = MeshSetup.RequestUri;

        Console.WriteLine();
        Console.WriteLine("Stages" + suffix);
        if (!telemetry)
        {
            Report("  new HttpRequestMessage (caller's own cost)", () => new HttpRequestMessage(HttpMethod.Get, uri).Dispose());
            Report("  new HttpRequestMessage + touch .Headers", () =>
            {
                using var r = new HttpRequestMessage(HttpMethod.Get, uri);
                _ = r.Headers;
            });
            Report("  uri.IdnHost", () => _ = uri.IdnHost);
            Report("  Host header: read, set, clear", () =>
            {
                using var r = new HttpRequestMessage(HttpMethod.Get, uri);
                if (r.Headers.Host is null)
                {
                    r.Headers.Host = uri.IdnHost;
                    r.Headers.Host = null;
                }
            });
            Report("  TryGetService (frozen dictionary)", () => runtime.TryGetService(uri.Host, out _));
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            Report("  Match (header route misses, default hits)", () => service.Match(request));
            Report("  PickDestination (90/10)", () => route.PickDestination(runtime.Random));
            Report("  MeshDeadline.Value (AsyncLocal)", () => _ = MeshDeadline.Value);
            Report("  Budget.RecordRequest", service.Budget.RecordRequest);
            Report("  picker.Pick (PeakEwma, 2 endpoints)", () => destination.Picker.Pick(request, null));
            Report("  EndpointUri.Rewrite (a repeated path: kept)", () => EndpointUri.Rewrite(endpoint, uri));
            var newPaths = new Uri[1024];
            for (var i = 0; i < newPaths.Length; i++)
            {
                newPaths[i] = new Uri($"http://reviews/api/reviews/{i}");
                _ = newPaths[i].PathAndQuery; // the caller's URI computes its path once, whoever asks first
            }

            var next = 0;
            Report("  EndpointUri.Rewrite (a new path each time)", () => EndpointUri.Rewrite(endpoint, newPaths[next++ & 1023]));
            Report("  new Uri(endpoint + path) (the rewrite without the table)", () =>
                _ = new Uri(string.Concat(endpoint.Authority, uri.PathAndQuery), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true }));
            Report("  deadline header (ToString + Remove + TryAdd)", () =>
            {
                request.Headers.Remove(MeshHeaders.Timeout);
                request.Headers.TryAddWithoutValidation(MeshHeaders.Timeout, 4999L.ToString(CultureInfo.InvariantCulture));
            });
            Report("  GetTimestamp x1", () => runtime.TimeProvider.GetTimestamp());
            Report("  endpoint OnAttemptStarted+Completed", () =>
            {
                endpoint.OnAttemptStarted();
                endpoint.OnAttemptCompleted(0, 100, runtime.TimeProvider.TimestampFrequency);
            });
            Report("  Outliers.Report(200)", () => service.Outliers.Report(endpoint, 200));

            var call = new MeshCall(request, uri, service, route, destination,
                runtime.TimeProvider.GetTimestamp(), runtime.TimeProvider.GetTimestamp() + (5 * runtime.TimeProvider.TimestampFrequency), grpc: false, default);
            using var ok = new HttpResponseMessage(System.Net.HttpStatusCode.OK);
            Report("  retry decision on a 200 (RetryRules.IsRetriable)", () => Mesh.Client.Resilience.RetryRules.IsRetriable(ok, null, call.IsIdempotent, replayable: true, grpc: false, call.Deadline, route.Retry, runtime.TimeProvider));
            Report("  deadline token source (new + caller link + dispose)", () =>
            {
                using var source = new CancellationTokenSource(call.Remaining(runtime.TimeProvider), runtime.TimeProvider);
                using var link = CancellationToken.None.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), source);
            });
            var breaker = endpoint.Breakers.Values.FirstOrDefault() ??
                new Mesh.Client.Resilience.EndpointBreaker(service.Breaker!, runtime.TimeProvider);
            Report("  endpoint breaker: lookup, acquire, record", () =>
            {
                _ = endpoint.Breakers.TryGetValue("bench", out _);
                breaker.TryAcquire(out _);
                breaker.Record(failure: false, runtime.TimeProvider.GetTimestamp());
            });
        }

        Report("  StartActivity (call span)" + suffix, () => Mesh.Client.Telemetry.MeshTelemetry.ActivitySource.StartActivity(ActivityKind.Client, name: "reviews")?.Dispose());
        Report("  Telemetry.RecordRequest" + suffix, () => runtime.Telemetry.RecordRequest("reviews", "v1", "default", 200, string.Empty, false, 0, 0, 0.001));
    }

    private static void Send(HttpMessageInvoker invoker)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, MeshSetup.RequestUri);
        using var response = invoker.SendAsync(request, CancellationToken.None).GetAwaiter().GetResult();
    }

    private static void Report(string name, Action action)
    {
        for (var i = 0; i < 20_000; i++)
        {
            action();
        }

        // Many short runs, keeping the best: on a shared machine most runs are slowed by other work, the best ones
        // are not. CPU time is the thread's own (clock_gettime), which leaves out time spent
        // waiting for a core; wall time is reported next to it.
        var bestWall = double.MaxValue;
        var bestCpu = double.MaxValue;
        long bytes = 0;
        for (var run = 0; run < _runs; run++)
        {
            var allocated = GC.GetAllocatedBytesForCurrentThread();
            var cpu = ThreadCpuNanoseconds();
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < _iterations; i++)
            {
                action();
            }

            var wall = Stopwatch.GetElapsedTime(started).TotalNanoseconds;
            cpu = ThreadCpuNanoseconds() - cpu;
            bytes = GC.GetAllocatedBytesForCurrentThread() - allocated;
            bestWall = Math.Min(bestWall, wall / _iterations);
            if (cpu > 0)
            {
                bestCpu = Math.Min(bestCpu, (double)cpu / _iterations);
            }
        }

        var cpuText = bestCpu == double.MaxValue ? "n/a" : bestCpu.ToString("F1", CultureInfo.InvariantCulture);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-58} {cpuText,9} {bestWall,9:F1} {(double)bytes / _iterations,7:F0}"));
    }

    /// <summary>Time this thread has run on a CPU, in ns (CLOCK_THREAD_CPUTIME_ID); 0 where that is not available.</summary>
    private static long ThreadCpuNanoseconds()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        return NativeMethods.clock_gettime(NativeMethods.ClockThreadCpuTime, out var ts) == 0 ? (ts.Seconds * 1_000_000_000L) + ts.Nanoseconds : 0;
    }
}

internal static partial class NativeMethods
{
    public const int ClockThreadCpuTime = 3;

    [LibraryImport("libc", SetLastError = false)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "The C function's name.")]
    [SuppressMessage("Naming", "CA1707:Identifiers should not contain underscores", Justification = "The C function's name.")]
    public static partial int clock_gettime(int clock, out Timespec time);

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
