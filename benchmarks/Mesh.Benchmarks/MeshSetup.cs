using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Benchmarks;

/// <summary>
/// Builds the mesh the way an app does: a <c>Mesh</c> configuration section, <c>AddMeshClient()</c>, and the
/// <see cref="Mesh.Client.MeshHandlerFactory"/> from the container. The policy is a typical one: three endpoints
/// (v1, v1, v2), a header-matched route for testers and a default 90/10 split, PeakEwma, two retries, a total
/// timeout, outlier detection and (by default) per-endpoint circuit breakers.
/// </summary>
public static class MeshSetup
{
    public static readonly Uri RequestUri = new("http://reviews/api/reviews/1");

    public static Dictionary<string, string?> Configuration() => new()
    {
        ["Mesh:Service:Name"] = "productpage",
        ["Mesh:Service:Version"] = "v1",
        ["Mesh:Services:reviews:Endpoints:0:Address"] = "http://10.0.0.1:9080",
        ["Mesh:Services:reviews:Endpoints:0:Labels:version"] = "v1",
        ["Mesh:Services:reviews:Endpoints:1:Address"] = "http://10.0.0.2:9080",
        ["Mesh:Services:reviews:Endpoints:1:Labels:version"] = "v1",
        ["Mesh:Services:reviews:Endpoints:2:Address"] = "http://10.0.0.3:9080",
        ["Mesh:Services:reviews:Endpoints:2:Labels:version"] = "v2",
        ["Mesh:Services:reviews:Subsets:v1:version"] = "v1",
        ["Mesh:Services:reviews:Subsets:v2:version"] = "v2",
        ["Mesh:Services:reviews:LoadBalancer:Policy"] = "PeakEwma",
        ["Mesh:Services:reviews:Routes:0:Name"] = "testers",
        ["Mesh:Services:reviews:Routes:0:Match:Headers:end-user"] = "jason",
        ["Mesh:Services:reviews:Routes:0:Destinations:0:Subset"] = "v2",
        ["Mesh:Services:reviews:Routes:0:Destinations:0:Weight"] = "100",
        ["Mesh:Services:reviews:Routes:1:Name"] = "default",
        ["Mesh:Services:reviews:Routes:1:Destinations:0:Subset"] = "v1",
        ["Mesh:Services:reviews:Routes:1:Destinations:0:Weight"] = "90",
        ["Mesh:Services:reviews:Routes:1:Destinations:1:Subset"] = "v2",
        ["Mesh:Services:reviews:Routes:1:Destinations:1:Weight"] = "10",
        ["Mesh:Services:reviews:Routes:1:Timeout"] = "00:00:05",
        ["Mesh:Services:reviews:Routes:1:Retry:Attempts"] = "2",
        ["Mesh:Services:reviews:Routes:1:Retry:RetryOn:0"] = "connect-failure",
        ["Mesh:Services:reviews:Routes:1:Retry:RetryOn:1"] = "refused-stream",
        ["Mesh:Services:reviews:Routes:1:Retry:RetryOn:2"] = "5xx",
        ["Mesh:Services:reviews:OutlierDetection:Consecutive5xxErrors"] = "5",
        ["Mesh:Services:reviews:OutlierDetection:Interval"] = "00:00:10",
        ["Mesh:Services:reviews:OutlierDetection:BaseEjectionTime"] = "00:00:30",
        ["Mesh:Services:reviews:OutlierDetection:MaxEjectionPercent"] = "10",
    };

    /// <summary>
    /// The meshed client's handler over <paramref name="terminal"/>, as an app gets it: <c>AddServiceMesh()</c> on a
    /// named <c>IHttpClientFactory</c> client (see <see cref="FactoryClient"/>), and the container that owns the runtime.
    /// </summary>
    public static (HttpMessageHandler Handler, ServiceProvider Services) Create(HttpMessageHandler terminal,
        Action<Dictionary<string, string?>>? edit = null)
    {
        var settings = Configuration();
        edit?.Invoke(settings);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return FactoryClient.Create(terminal, client => client.AddServiceMesh(), services => services.AddSingleton<IConfiguration>(configuration));
    }

    /// <summary>Sends one request and checks that it was routed to an endpoint, not passed through.</summary>
    public static void Verify(HttpMessageInvoker invoker, TerminalHandler terminal, bool expectMesh)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, RequestUri);
        using var response = invoker.SendAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        if ((int)response.StatusCode != 200)
        {
            throw new InvalidOperationException($"Expected 200, got {(int)response.StatusCode}.");
        }

        var host = terminal.LastUri?.Host;
        var routed = host is not null && host.StartsWith("10.0.0.", StringComparison.Ordinal);
        if (routed != expectMesh)
        {
            throw new InvalidOperationException($"The terminal saw {terminal.LastUri}; expected the mesh to {(expectMesh ? string.Empty : "not ")}route it.");
        }

        if (request.RequestUri != RequestUri)
        {
            throw new InvalidOperationException($"The request URI was not restored: {request.RequestUri}.");
        }
    }
}
