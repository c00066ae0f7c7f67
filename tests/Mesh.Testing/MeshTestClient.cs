using System.Text.Json;
using Mesh.Client.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.Testing;

/// <summary>
/// A meshed <see cref="HttpClient"/> for tests, configured the way users configure it: a JSON file with a
/// <c>Mesh</c> section, read by the configuration system. <see cref="Reload"/> rewrites the file and reloads.
/// </summary>
public sealed class MeshTestClient : IAsyncDisposable
{
    private readonly string _directory;
    private readonly IConfigurationRoot _configuration;

    private MeshTestClient(string directory, IConfigurationRoot configuration, ServiceProvider services, FakeLogCollector logs)
    {
        Logs = logs;
        _directory = directory;
        _configuration = configuration;
        Services = services;
        Factory = services.GetRequiredService<IHttpClientFactory>();
        Client = Factory.CreateClient("test");
    }

    public ServiceProvider Services { get; }

    public IHttpClientFactory Factory { get; }

    public HttpClient Client { get; }

    public FakeLogCollector Logs { get; }

    /// <summary>Builds a client; <paramref name="mesh"/> is the <c>Mesh</c> section as an object that serialises to JSON, or a JSON string.</summary>
    public static MeshTestClient Create(object mesh, TimeProvider? timeProvider = null, int seed = 1234, Action<IServiceCollection>? configure = null)
    {
        var directory = Directory.CreateTempSubdirectory("mesh-test-").FullName;
        File.WriteAllText(Path.Combine(directory, "appsettings.json"), Wrap(mesh));
        var configuration = new ConfigurationBuilder()
            .SetBasePath(directory)
            .AddJsonFile("appsettings.json", optional: false, reloadOnChange: false)
            .Build();
        var logs = new FakeLogCollector();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.AddProvider(new FakeLoggerProvider(logs)));
        services.AddSingleton(timeProvider ?? TimeProvider.System);
        services.AddSingleton<RandomSource>(new SeededRandomSource(seed));
        services.AddMeshClient();
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        return new MeshTestClient(directory, configuration, provider, logs);
    }

    /// <summary>Rewrites the configuration file and reloads it, as a deployment tool editing appsettings.json would.</summary>
    public void Reload(object mesh)
    {
        File.WriteAllText(Path.Combine(_directory, "appsettings.json"), Wrap(mesh));
        _configuration.Reload();
    }

    public T GetService<T>()
        where T : notnull => Services.GetRequiredService<T>();

    private static string Wrap(object mesh)
    {
        var json = mesh as string ?? JsonSerializer.Serialize(mesh);
        return "{ \"Mesh\": " + json + " }";
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Services.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
