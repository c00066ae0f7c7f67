namespace Mesh.Client.Telemetry;

/// <summary>
/// A service's span names, <c>{method} {service}</c>, made once for the common methods instead of on every call. A
/// method outside HTTP's standard set is named <c>HTTP {service}</c>, as OpenTelemetry's HTTP conventions name it: a
/// caller that forwards methods it was sent cannot make a span name per method.
/// </summary>
internal sealed class DisplayNames(string service)
{
    private readonly string _other = "HTTP " + service;
    private readonly string _get = "GET " + service;
    private readonly string _post = "POST " + service;
    private readonly string _put = "PUT " + service;
    private readonly string _delete = "DELETE " + service;
    private readonly string _patch = "PATCH " + service;

    public string For(HttpMethod method)
    {
        // HttpMethod's well-known instances are singletons; a method parsed from elsewhere still compares equal.
        if (method == HttpMethod.Get)
        {
            return _get;
        }

        if (method == HttpMethod.Post)
        {
            return _post;
        }

        if (method == HttpMethod.Put)
        {
            return _put;
        }

        if (method == HttpMethod.Delete)
        {
            return _delete;
        }

        if (method == HttpMethod.Patch)
        {
            return _patch;
        }

        return MeshSpans.StandardMethod(method) is { } standard ? string.Concat(standard, " ", service) : _other;
    }
}
