using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Benchmarks;

/// <summary>
/// A named client's handler from <c>IHttpClientFactory</c> over the shared terminal, as an app gets the handler of
/// its <c>HttpClient</c>. Every compared pipeline is built this way, so the factory's own hop is in each alike; the
/// factory's logging handlers are removed from each, as none of the pipelines logs a request otherwise.
/// </summary>
public static class FactoryClient
{
    public const string Name = "reviews";

    public static (HttpMessageHandler Handler, ServiceProvider Services) Create(HttpMessageHandler terminal,
        Action<IHttpClientBuilder>? configureClient = null, Action<IServiceCollection>? configureServices = null)
    {
        var services = new ServiceCollection();
        configureServices?.Invoke(services);
        var client = services.AddHttpClient(Name).ConfigurePrimaryHttpMessageHandler(() => terminal).RemoveAllLoggers();
        configureClient?.Invoke(client);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        return (provider.GetRequiredService<IHttpMessageHandlerFactory>().CreateHandler(Name), provider);
    }

    /// <summary>The plain client: the factory's handler straight over the terminal.</summary>
    public static (HttpMessageHandler Handler, ServiceProvider Services) Bare(HttpMessageHandler terminal) => Create(terminal);

    /// <summary>The client with the hand-written Polly handler a careful user adds (<see cref="PollyHandler"/>).</summary>
    public static (HttpMessageHandler Handler, ServiceProvider Services) Polly(HttpMessageHandler terminal) =>
        Create(terminal, client => client.AddHttpMessageHandler(() => new PollyHandler()));
}
