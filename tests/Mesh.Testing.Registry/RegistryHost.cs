using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mesh.Registry;
using Mesh.Registry.Ca;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace Mesh.Testing;

/// <summary>
/// The registry hosted in-process on real Kestrel (127.0.0.1, port 0 unless given) over a real SQLite file and CA in
/// a temporary folder, which is removed on dispose. <see cref="RestartAsync"/> stops it and starts a new one on the
/// same store, CA and port, with <see cref="Settings"/> as they are then. On an <see cref="EtcdCluster"/> (a parameter, or
/// <see cref="StoreVariable"/>=<c>Etcd</c> for the shared cluster) it keeps its state under a key prefix of its own,
/// which restarts keep.
/// </summary>
public sealed class RegistryHost : IAsyncDisposable
{
    public const string AdminToken = "test-admin-token-0123456789-abcdefghij";
    public const string ReviewsToken = "test-join-reviews-0123456789-abcdefghij";
    public const string RatingsToken = "test-join-ratings-0123456789-abcdefghij";

    /// <summary>
    /// The environment variable that puts every host started without a cluster of its own on the etcd store
    /// (<c>Etcd</c>), on <see cref="EtcdCluster.Shared"/>; unset (or <c>Sqlite</c>) keeps the SQLite default.
    /// </summary>
    public const string StoreVariable = "MESH_TEST_REGISTRY_STORE";

    private const string EtcdPrefixKey = "MeshRegistry:Etcd:Prefix";

    private static readonly string[] DefaultServices = ["reviews", "ratings"];

    private readonly TimeProvider? _time;
    private readonly bool _https;
    private readonly Action<IServiceCollection>? _configureServices;
    private readonly List<HttpClient> _clients = [];
    private int _port;

    private RegistryHost(string directory, TimeProvider? time, Dictionary<string, string?> settings, bool https, int port, FakeLogCollector? logs,
        Action<IServiceCollection>? configureServices, EtcdCluster? etcd)
    {
        _configureServices = configureServices;
        Directory = directory;
        Etcd = etcd;
        _time = time;
        Settings = settings;
        _https = https;
        _port = port;
        Logs = logs ?? new FakeLogCollector();
    }

    public string Directory { get; }

    /// <summary>The configuration the next start (or <see cref="RestartAsync"/>) uses.</summary>
    public Dictionary<string, string?> Settings { get; }

    public string DataPath => Path.Combine(Directory, "registry.db");

    /// <summary>The etcd cluster the registry keeps its state on; null on SQLite.</summary>
    public EtcdCluster? Etcd { get; }

    /// <summary>The key prefix under which the registry keeps its state on <see cref="Etcd"/>.</summary>
    public string? EtcdPrefix => Etcd is null ? null : Settings[EtcdPrefixKey];

    public WebApplication App { get; private set; } = null!;

    /// <summary>Where it listens; still readable after dispose, for clients that must find it gone.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>What the registry wrote to its console (the CA fingerprint, warnings) since it last started.</summary>
    public StringWriter Console { get; private set; } = new();

    /// <summary>The registry's log records from Debug up, across restarts.</summary>
    public FakeLogCollector Logs { get; }

    /// <summary>The join token of <paramref name="service"/>, as <see cref="StartAsync"/> configures it.</summary>
    public static string JoinToken(string service) => $"test-join-{service}-0123456789-abcdefghij";

    /// <summary>
    /// Starts the registry with the admin token and a join token (<see cref="JoinToken"/>) for each of
    /// <paramref name="services"/> (by default reviews and ratings); <paramref name="configure"/> edits the settings
    /// before the start. With <paramref name="https"/> it listens on HTTPS with its CA-issued certificate. Records go
    /// to <paramref name="logs"/> when given, so a test can read them with its apps' records. <paramref name="configureServices"/>
    /// adds to the registry's services on every start (an <c>IStartupFilter</c> with middleware that watches its requests, say).
    /// With <paramref name="etcd"/> (or, without it, <see cref="StoreVariable"/>=<c>Etcd</c>: the shared cluster) the
    /// registry keeps its state on etcd under <paramref name="etcdPrefix"/>, by default a new prefix of this host alone;
    /// hosts given the same prefix share one state, as replicas do.
    /// </summary>
    public static async Task<RegistryHost> StartAsync(TimeProvider? time = null, Action<Dictionary<string, string?>>? configure = null, bool https = false,
        IEnumerable<string>? services = null, int port = 0, FakeLogCollector? logs = null, Action<IServiceCollection>? configureServices = null,
        EtcdCluster? etcd = null, string? etcdPrefix = null)
    {
        etcd ??= await EtcdFromEnvironmentAsync();
        var directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var settings = new Dictionary<string, string?>
        {
            ["MeshRegistry:DataPath"] = Path.Combine(directory, "registry.db"),
            ["MeshRegistry:AdminToken"] = AdminToken,
        };
        foreach (var service in services ?? DefaultServices)
        {
            settings[$"MeshRegistry:JoinTokens:{service}"] = JoinToken(service);
        }

        if (etcd is not null)
        {
            foreach (var (key, value) in EtcdSettings(etcd, etcdPrefix))
            {
                settings[key] = value;
            }

            // The CA keeps its files outside the store; without a folder of the store's it goes to the host's folder.
            settings["MeshRegistry:CaPath"] = Path.Combine(directory, "ca");
        }

        configure?.Invoke(settings);
        var host = new RegistryHost(directory, time, settings, https, port, logs, configureServices, etcd);
        try
        {
            await host.StartAppAsync();
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }

        return host;
    }

    /// <summary>
    /// The settings that put a registry on the store the tests run on: none for the default, SQLite; with
    /// <c>MESH_TEST_REGISTRY_STORE=Etcd</c> the test process's shared etcd cluster, under a prefix of its own, with its CA
    /// folder in <paramref name="directory"/>.
    /// </summary>
    public static async Task<Dictionary<string, string?>> StoreSettingsAsync(string directory)
    {
        var settings = new Dictionary<string, string?>();
        if (await EtcdFromEnvironmentAsync() is { } cluster)
        {
            foreach (var (key, value) in EtcdSettings(cluster, null))
            {
                settings[key] = value;
            }

            settings["MeshRegistry:CaPath"] = Path.Combine(directory, "ca");
        }

        return settings;
    }

    /// <summary>
    /// Starts a registry with <paramref name="settings"/> (on a fresh data folder, with the admin token) that must
    /// fail its options validation, and gives the message listing the errors.
    /// </summary>
    public static async Task<string> StartupErrorsAsync(Dictionary<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        try
        {
            settings["MeshRegistry:DataPath"] = Path.Combine(directory, "r.db");
            settings["MeshRegistry:AdminToken"] = AdminToken;
            await using var app = Build(directory, settings, null, new StringWriter(), null, https: false, port: 0, configureServices: null);
            try
            {
                await app.StartAsync();
            }
            catch (OptionsValidationException ex)
            {
                return ex.Message;
            }

            await app.StopAsync();
            throw new InvalidOperationException("The registry started: its options passed validation.");
        }
        finally
        {
            DeleteDirectory(directory);
        }
    }

    /// <summary>
    /// The settings that put a registry on <paramref name="cluster"/>: the store, every client endpoint, and
    /// <paramref name="prefix"/> (by default a new one, <c>/meshlib-test/&lt;guid&gt;/</c>).
    /// </summary>
    public static Dictionary<string, string?> EtcdSettings(EtcdCluster cluster, string? prefix = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var settings = new Dictionary<string, string?>
        {
            ["MeshRegistry:Store"] = "Etcd",
            [EtcdPrefixKey] = prefix ?? $"/meshlib-test/{Guid.NewGuid():N}/",
        };
        for (var i = 0; i < cluster.ClientEndpoints.Count; i++)
        {
            settings[$"MeshRegistry:Etcd:Endpoints:{i}"] = cluster.ClientEndpoints[i].ToString().TrimEnd('/');
        }

        return settings;
    }

    /// <summary>The shared cluster when <see cref="StoreVariable"/> asks for etcd; null for SQLite.</summary>
    public static async Task<EtcdCluster?> EtcdFromEnvironmentAsync()
    {
        var store = Environment.GetEnvironmentVariable(StoreVariable);
        if (string.IsNullOrEmpty(store) || store.Equals("Sqlite", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (store.Equals("Etcd", StringComparison.OrdinalIgnoreCase))
        {
            return await EtcdCluster.Shared;
        }

        throw new InvalidOperationException($"{StoreVariable}='{store}' is not a store the tests know; use Sqlite or Etcd.");
    }

    public async Task RestartAsync()
    {
        await StopAppAsync();
        await StartAppAsync();
    }

    public HttpClient Client(string? token) => Client(token, clientCertificate: null);

    /// <summary>
    /// A client of this registry, disposed with it. Over HTTPS it trusts the registry's CA only (at the registry's
    /// clock) and presents <paramref name="clientCertificate"/> when given.
    /// </summary>
    public HttpClient Client(string? token, X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler();
        if (Address.Scheme == Uri.UriSchemeHttps)
        {
            var ca = App.Services.GetRequiredService<CertificateAuthority>();
            var time = _time ?? TimeProvider.System;
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is X509Certificate2 leaf && ChainsTo(leaf, ca.TrustedRoots().Roots, time.GetUtcNow()),
                LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate!,
            };
        }

        var client = new HttpClient(handler) { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        _clients.Add(client);
        return client;
    }

    /// <summary>A client with the admin token, disposed with the host.</summary>
    public HttpClient Admin => Client(AdminToken);

    /// <summary>Whether <paramref name="leaf"/> chains to one of <paramref name="roots"/> (and nothing else) at <paramref name="at"/>.</summary>
    public static bool ChainsTo(X509Certificate2 leaf, X509Certificate2Collection roots, DateTimeOffset at) => TestFiles.ChainsTo(leaf, roots, at);

    public async ValueTask DisposeAsync()
    {
        await StopAppAsync();
        DeleteDirectory(Directory);
    }

    public static void DeleteDirectory(string directory) => TestFiles.DeleteDirectory(directory);

    private static WebApplication Build(string contentRoot, Dictionary<string, string?> settings, TimeProvider? time, StringWriter console,
        ILoggerProvider? logs, bool https, int port, Action<IServiceCollection>? configureServices)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = contentRoot });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, port, listen =>
        {
            if (https)
            {
                listen.UseHttps();
            }
        }));
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        builder.Services.AddSingleton(new RegistryConsole(console));
        builder.Services.AddMeshRegistry();
        configureServices?.Invoke(builder.Services);
        var app = builder.Build();
        app.MapMeshRegistry();
        return app;
    }

    private async Task StartAppAsync()
    {
        Console = new StringWriter();
        App = Build(Directory, Settings, _time, Console, new FakeLoggerProvider(Logs), _https, _port, _configureServices);
        try
        {
            await App.StartAsync();
        }
        catch
        {
            await App.DisposeAsync();
            App = null!;
            throw;
        }

        Address = new Uri(App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        // A restart keeps the address, as a registry restarted in place does, so clients configured with it reconnect.
        _port = Address.Port;
    }

    private async Task StopAppAsync()
    {
        foreach (var c in _clients)
        {
            c.Dispose();
        }

        _clients.Clear();
        if (App is not null)
        {
            await App.StopAsync();
            await App.DisposeAsync();
            App = null!;
        }
    }
}
