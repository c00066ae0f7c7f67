using Mesh.Client.Internal;
using Mesh.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// A mesh built the way an app builds it (an in-memory <c>Mesh</c> section, <c>AddMeshClient()</c>, the handler from
/// <see cref="MeshHandlerFactory"/>) on a manual clock and a seeded random source, over a <see cref="ScriptedBackend"/>.
/// </summary>
internal sealed class MeshUnderTest : IDisposable
{
    private readonly ServiceProvider _services;
    private readonly HttpMessageInvoker _invoker;

    private MeshUnderTest(ServiceProvider services, HttpMessageInvoker invoker, ManualTimeProvider time)
    {
        _services = services;
        _invoker = invoker;
        Time = time;
    }

    public ManualTimeProvider Time { get; }

    public IServiceProvider Services => _services;

    /// <summary>
    /// A mesh whose service <paramref name="service"/> has the endpoints <c>http://10.0.0.N:8080</c> for each
    /// version in <paramref name="versions"/> (labelled with it), and the policy <paramref name="policy"/> (keys
    /// under <c>Mesh:Services:{service}:</c>).
    /// </summary>
    public static MeshUnderTest Create(ScriptedBackend backend, string service, string[] versions, Dictionary<string, string?> policy)
    {
        var settings = new Dictionary<string, string?> { ["Mesh:Service:Name"] = "caller" };
        for (var i = 0; i < versions.Length; i++)
        {
            settings[$"Mesh:Services:{service}:Endpoints:{i}:Address"] = Address(i);
            settings[$"Mesh:Services:{service}:Endpoints:{i}:Labels:version"] = versions[i];
        }

        foreach (var (key, value) in policy)
        {
            settings[$"Mesh:Services:{service}:{key}"] = value;
        }

        var time = new ManualTimeProvider();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<RandomSource>(new SeededRandomSource(7));
        services.AddMeshClient();
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var handler = provider.GetRequiredService<MeshHandlerFactory>().CreateHandler(backend, "unit");
        return new MeshUnderTest(provider, new HttpMessageInvoker(handler), time);
    }

    /// <summary>The address of endpoint <paramref name="index"/>, as the mesh's configuration gives it.</summary>
    public static string Address(int index) => $"http://10.0.0.{index + 1}:8080";

    /// <summary>The authority the transport sees for endpoint <paramref name="index"/>.</summary>
    public static string Endpoint(int index) => $"10.0.0.{index + 1}:8080";

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string uri, HttpContent? content = null, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(method, uri) { Content = content };
        return _invoker.SendAsync(request, cancellationToken);
    }

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken = default) =>
        _invoker.SendAsync(request, cancellationToken);

    public Task<HttpResponseMessage> GetAsync(string uri, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, uri, cancellationToken: cancellationToken);

    public void Dispose()
    {
        _invoker.Dispose();
        _services.Dispose();
    }
}
