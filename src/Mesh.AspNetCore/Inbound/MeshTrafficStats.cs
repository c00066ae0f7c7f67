using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Mesh.Client.Hosting;
using Mesh.Client.Registry;

namespace Mesh.AspNetCore.Inbound;

/// <summary>
/// Sums this app's outbound mesh traffic between two lease renewals, per destination service and version, from the
/// client pipeline's <c>mesh.request.duration</c> instrument (one record per logical call). The renewal carries the
/// sums to the registry, whose dashboard draws the service graph from them: a mesh without a metrics server still
/// shows who calls whom, how often, how well and how fast.
/// </summary>
/// <remarks>
/// Only this host's meter counts: several meshed hosts may share a process (the Bookinfo demo, tests), and a
/// <see cref="MeterListener"/> sees every meter of the process, so instruments are matched on the meter's scope, the
/// host's <see cref="IMeterFactory"/>. The callback runs on the request path: no locks, no allocation once a
/// destination has been seen (a lock-free dictionary read and a few interlocked adds into a log-scale histogram).
/// </remarks>
internal sealed class MeshTrafficStats(IMeterFactory meterFactory, TimeProvider time) : IDisposable
{
    /// <summary>Destinations kept per window; beyond it new ones are not counted (a bounded renewal body).</summary>
    public const int MaxDestinations = 128;

    // Bucket i holds durations up to Floor * Growth^(i+1) ms: 0.05 ms to about 80 s in 10% steps.
    private const double FloorMs = 0.05;
    private const double Growth = 1.1;
    private const int BucketCount = 150;
    private static readonly double LogGrowth = Math.Log(Growth);

    private MeterListener? _listener;
    private Window _current = new();
    private long _windowStart;

    /// <summary>When this workload's certificate expires; set by whoever obtains the certificate.</summary>
    public DateTimeOffset? CertificateExpiresAt { get; set; }

    public void Start()
    {
        if (_listener is not null)
        {
            return;
        }

        _windowStart = time.GetTimestamp();
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == MeshInbound.MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory) &&
                    instrument.Name == "mesh.request.duration")
                {
                    listener.EnableMeasurementEvents(instrument, this);
                }
            },
        };
        _listener.SetMeasurementEventCallback<double>(static (_, seconds, tags, state) => ((MeshTrafficStats)state!).Record(seconds, tags));
        _listener.Start();
    }

    /// <summary>The numbers since the previous call, and a new window begun.</summary>
    public TrafficStats Snapshot()
    {
        var now = time.GetTimestamp();
        var window = Interlocked.Exchange(ref _current, new Window());
        var seconds = time.GetElapsedTime(Interlocked.Exchange(ref _windowStart, now), now).TotalSeconds;
        var destinations = new List<DestinationStats>(window.Counters.Count);
        foreach (var ((service, version), counters) in window.Counters)
        {
            var requests = Interlocked.Read(ref counters.Requests);
            if (requests == 0)
            {
                continue;
            }

            destinations.Add(new DestinationStats
            {
                Service = service,
                Version = version,
                Requests = requests,
                Errors = Interlocked.Read(ref counters.Errors),
                P50Ms = counters.Percentile(requests, 0.50),
                P99Ms = counters.Percentile(requests, 0.99),
            });
        }

        destinations.Sort(static (a, b) => (string.CompareOrdinal(a.Service, b.Service), string.CompareOrdinal(a.Version, b.Version)) switch
        {
            (0, var v) => v,
            (var s, _) => s,
        });
        return new TrafficStats { WindowSeconds = Math.Round(seconds, 3), Destinations = destinations, CertificateExpiresAt = CertificateExpiresAt };
    }

    public void Dispose() => _listener?.Dispose();

    private void Record(double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? service = null, version = null, code = null, grpc = null;
        foreach (var tag in tags)
        {
            switch (tag.Key)
            {
                case "reporter" when tag.Value is string reporter && reporter != "source":
                    return;
                case "destination_service":
                    service = tag.Value as string;
                    break;
                case "destination_version":
                    version = tag.Value as string;
                    break;
                case "response_code":
                    code = tag.Value as string;
                    break;
                case "grpc_status":
                    grpc = tag.Value as string;
                    break;
            }
        }

        if (service is null)
        {
            return;
        }

        var window = Volatile.Read(ref _current);
        var key = (service, version ?? "unknown");
        if (!window.Counters.TryGetValue(key, out var counters))
        {
            if (window.Counters.Count >= MaxDestinations)
            {
                return;
            }

            counters = window.Counters.GetOrAdd(key, static _ => new Counters());
        }

        Interlocked.Increment(ref counters.Requests);

        // A 5xx, or 0: the call ended without a response (refused, timed out, cancelled). A gRPC call answers 200 and
        // says how it went in grpc-status: the codes that gRPC's HTTP mapping puts among the 5xx count as errors too.
        if (code is null || code.Length == 0 || code[0] == '5' || code == "0" || IsServerError(grpc))
        {
            Interlocked.Increment(ref counters.Errors);
        }

        var ms = seconds * 1000;
        var bucket = ms <= FloorMs ? 0 : (int)Math.Min(BucketCount - 1, Math.Log(ms / FloorMs) / LogGrowth);
        Interlocked.Increment(ref counters.Buckets[bucket]);
    }

    /// <summary>UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS: the server's or the path's fault.</summary>
    private static bool IsServerError(string? grpcStatus) =>
        grpcStatus is "2" or "4" or "12" or "13" or "14" or "15";

    private sealed class Window
    {
        public ConcurrentDictionary<(string Service, string Version), Counters> Counters { get; } = new();
    }

    private sealed class Counters
    {
        public readonly long[] Buckets = new long[BucketCount];
        public long Requests;
        public long Errors;

        /// <summary>The upper bound of the bucket holding the <paramref name="quantile"/> request, in ms (at most 10% above the truth).</summary>
        public double Percentile(long requests, double quantile)
        {
            var rank = (long)Math.Ceiling(requests * quantile);
            long seen = 0;
            for (var i = 0; i < Buckets.Length; i++)
            {
                seen += Interlocked.Read(ref Buckets[i]);
                if (seen >= rank)
                {
                    return Math.Round(FloorMs * Math.Pow(Growth, i + 1), 3);
                }
            }

            return Math.Round(FloorMs * Math.Pow(Growth, BucketCount), 3);
        }
    }
}
