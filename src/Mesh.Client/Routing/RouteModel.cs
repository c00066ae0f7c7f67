using Mesh.Client.Faults;
using Mesh.Client.Internal;
using Mesh.Client.Resilience;

namespace Mesh.Client.Routing;

/// <summary>A route of the immutable runtime model: its match, its destinations, its timeout, retries and faults.</summary>
internal sealed class RouteModel
{
    private readonly HttpMethod[] _methods;
    private readonly KeyValuePair<string, string>[] _headers;
    private readonly string? _path;
    private readonly string? _pathPrefix;
    private readonly RouteDestination[] _destinations;

    public RouteModel(string name, RouteMatchOptions? match, RouteDestination[] destinations, TimeSpan? timeout,
        RetryModel retry, FaultInjection? fault, RouteDestination? mirror, double mirrorPercentage, HedgingModel? hedging = null)
    {
        Name = name;
        _methods = match is null ? [] : [.. match.Methods.Select(m => new HttpMethod(m.ToUpperInvariant()))];
        _headers = match is null ? [] : [.. match.Headers];
        _path = match?.Path;
        _pathPrefix = match?.PathPrefix;
        _destinations = destinations;
        Timeout = timeout;
        Retry = retry;
        Fault = fault;
        Mirror = mirror;
        MirrorPercentage = mirrorPercentage;
        Hedging = hedging;
        DeadlineHeaders = new DeadlineHeaderValues(timeout, retry.PerTryTimeout);
    }

    public string Name { get; }

    public TimeSpan? Timeout { get; }

    public RetryModel Retry { get; }

    /// <summary>The deadline headers' values for <see cref="Timeout"/> and the per-try timeout, formatted once.</summary>
    public DeadlineHeaderValues DeadlineHeaders { get; }

    public FaultInjection? Fault { get; }

    public RouteDestination? Mirror { get; }

    public double MirrorPercentage { get; }

    /// <summary>The route's hedging; null (the common case) for none.</summary>
    public HedgingModel? Hedging { get; }

    public bool Matches(HttpRequestMessage request)
    {
        if (_methods.Length > 0 && Array.IndexOf(_methods, request.Method) < 0)
        {
            return false;
        }

        if (_path is not null || _pathPrefix is not null)
        {
            var path = request.RequestUri!.AbsolutePath;
            if (_path is not null && !string.Equals(path, _path, StringComparison.Ordinal))
            {
                return false;
            }

            if (_pathPrefix is not null && !path.StartsWith(_pathPrefix, StringComparison.Ordinal))
            {
                return false;
            }
        }

        foreach (var (name, expected) in _headers)
        {
            if (!request.Headers.NonValidated.TryGetValues(name, out var values) ||
                !string.Equals(values.ToString(), expected, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The weighted split: one draw in [0, 100) against the cumulative weights.</summary>
    public RouteDestination PickDestination(RandomSource random)
    {
        var destinations = _destinations;
        if (destinations.Length == 1)
        {
            return destinations[0];
        }

        var draw = random.Next(100);
        foreach (var d in destinations)
        {
            if (draw < d.CumulativeWeight)
            {
                return d;
            }
        }

        return destinations[^1];
    }
}
