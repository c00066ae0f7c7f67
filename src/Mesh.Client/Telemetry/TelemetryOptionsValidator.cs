namespace Mesh.Client.Telemetry;

/// <summary>Checks <c>Mesh:Telemetry</c>, each error with its path.</summary>
internal static class TelemetryOptionsValidator
{
    public static void Validate(MeshTelemetryOptions? telemetry, string path, List<string> errors)
    {
        if (telemetry is null)
        {
            return;
        }

        for (var i = 0; i < telemetry.Meters.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(telemetry.Meters[i]))
            {
                errors.Add($"{path}:Meters:{i}: a meter name must not be empty");
            }
        }

        if (telemetry.MaxSeriesPerMetric is < 1 or > 1_000_000)
        {
            errors.Add($"{path}:MaxSeriesPerMetric: {telemetry.MaxSeriesPerMetric} must be between 1 and 1000000");
        }

        if (telemetry.MetricsListener is { } listener && !IsListenerAddress(listener))
        {
            errors.Add($"{path}:MetricsListener: '{listener}' must be a plain http URL with an IP address or localhost, " +
                "without a path, query or user info (e.g. http://0.0.0.0:9464)");
        }

        var otlp = telemetry.Otlp;
        if (otlp.Endpoint is { } endpoint && (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"{path}:Otlp:Endpoint: '{endpoint}' must be an absolute http or https URL");
        }

        if (otlp.Protocol is not ("grpc" or "http/protobuf"))
        {
            errors.Add($"{path}:Otlp:Protocol: '{otlp.Protocol}' must be grpc or http/protobuf");
        }

        if (otlp.MetricsInterval < TimeSpan.FromMilliseconds(100) || otlp.MetricsInterval > TimeSpan.FromDays(1))
        {
            errors.Add($"{path}:Otlp:MetricsInterval: {otlp.MetricsInterval} must be between 00:00:00.1 and 1.00:00:00");
        }

        if (otlp.Timeout < TimeSpan.FromMilliseconds(1) || otlp.Timeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{path}:Otlp:Timeout: {otlp.Timeout} must be between 00:00:00.001 and 00:10:00");
        }
    }

    /// <summary>
    /// Plain http only: the listener exists for scrapers that cannot speak mesh mTLS. Kestrel binds IP addresses and
    /// localhost; a host name would be resolved once, at start, which is rarely what an operator means.
    /// </summary>
    private static bool IsListenerAddress(Uri listener) =>
        listener.IsAbsoluteUri && listener.Scheme == Uri.UriSchemeHttp &&
        (listener.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 || string.Equals(listener.Host, "localhost", StringComparison.OrdinalIgnoreCase)) &&
        listener.UserInfo.Length == 0 && listener.AbsolutePath == "/" && listener.Query.Length == 0 && listener.Fragment.Length == 0;
}
