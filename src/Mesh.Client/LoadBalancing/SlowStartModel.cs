namespace Mesh.Client.LoadBalancing;

/// <summary>
/// A service's slow-start settings in clock ticks, built once per policy snapshot: the weight of an endpoint in its
/// ramp, Envoy's <c>max(min_weight_percent / 100, (time in window / window)^(1 / aggression))</c>.
/// </summary>
internal sealed class SlowStartModel
{
    private readonly long _windowTicks;
    private readonly double _exponent;
    private readonly double _minWeight;
    private readonly SlowStartTracker _tracker;

    private SlowStartModel(SlowStartOptions options, SlowStartTracker tracker)
    {
        _windowTicks = Math.Max(1, (long)(options.Window.TotalSeconds * tracker.TimeProvider.TimestampFrequency));
        _exponent = 1 / options.Aggression;
        _minWeight = options.MinWeightPercent / 100;
        _tracker = tracker;
    }

    /// <summary>The model of <paramref name="options"/>, or null when slow start is off.</summary>
    public static SlowStartModel? From(SlowStartOptions? options, SlowStartTracker tracker) =>
        options is null ? null : new SlowStartModel(options, tracker);

    /// <summary>Whether some endpoint of the service may be ramping up; <paramref name="now"/> is the clock then.</summary>
    public bool TryGetActive(out long now) => _tracker.TryGetActive(_windowTicks, out now);

    /// <summary>The weight of <paramref name="endpoint"/> at <paramref name="now"/>: 1 outside a ramp.</summary>
    public double Weight(EndpointState endpoint, long now)
    {
        var since = endpoint.SlowStartSince(now);
        if (since == 0)
        {
            return 1;
        }

        var elapsed = now - since;
        if (elapsed >= _windowTicks)
        {
            return 1;
        }

        var ramp = Math.Max(0, elapsed) / (double)_windowTicks;
        return Math.Max(_minWeight, Math.Pow(ramp, _exponent));
    }
}
