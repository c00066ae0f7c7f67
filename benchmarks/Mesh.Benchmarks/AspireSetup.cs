using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Benchmarks;

/// <summary>
/// The stack an Aspire app gets from its service defaults instead of the mesh: <c>AddStandardResilienceHandler()</c>
/// (rate limiter, total timeout, retry, circuit breaker, attempt timeout) over <c>AddServiceDiscovery()</c>, which
/// resolves <c>http://reviews</c> from the <c>Services</c> configuration section to one of the same three endpoints.
/// Built as every compared client is (<see cref="FactoryClient"/>).
/// </summary>
public static class AspireSetup
{
    public static (HttpMessageHandler Handler, ServiceProvider Services) Create(HttpMessageHandler terminal)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Services:reviews:http:0"] = "10.0.0.1:9080",
            ["Services:reviews:http:1"] = "10.0.0.2:9080",
            ["Services:reviews:http:2"] = "10.0.0.3:9080",
        }).Build();
        return FactoryClient.Create(terminal, client =>
        {
            client.AddStandardResilienceHandler();
            client.AddServiceDiscovery();
        }, services =>
        {
            services.AddSingleton<IConfiguration>(configuration);
            services.AddLogging();
            services.AddMetrics();
            services.AddServiceDiscovery();
        });
    }
}
