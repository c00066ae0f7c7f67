namespace Mesh.AspNetCore.Telemetry;

/// <summary>How an instrument's measurements become a Prometheus metric.</summary>
internal enum PrometheusKind
{
    /// <summary>Counter: measurements are increments, exported as a counter.</summary>
    Counter,

    /// <summary>UpDownCounter: increments, exported as a gauge.</summary>
    UpDownCounter,

    /// <summary>Observable counter: each observation is the running total.</summary>
    ObservedCounter,

    /// <summary>Observable gauge or observable up-down counter: each measurement is the current value.</summary>
    ObservedGauge,

    /// <summary>Gauge: each measurement is the current value, kept until the next.</summary>
    Gauge,

    /// <summary>Histogram: cumulative buckets, sum and count.</summary>
    Histogram,
}
