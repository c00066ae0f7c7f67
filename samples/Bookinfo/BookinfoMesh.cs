using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mesh.Client;
using Mesh.Client.Security;
using Mesh.Registry;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Bookinfo;

/// <summary>One running Bookinfo service: its host, address and mesh status.</summary>
internal sealed class ServiceHost(string name, string instanceId, WebApplication app)
{
    public string Name { get; } = name;

    public string InstanceId { get; } = instanceId;

    public WebApplication App { get; } = app;

    public Uri Address { get; } = new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>The mesh's current view in this app; the tour reads it to know when a policy change has arrived.</summary>
    public IMeshStatus Status => App.Services.GetRequiredService<IMeshStatus>();

    public bool Stopped { get; set; }
}

/// <summary>
/// The whole Bookinfo mesh in one process: a registry on an embedded SQLite file in a temporary folder, and every
/// service as its own Kestrel host on 127.0.0.1 with <c>AddMesh()</c>, configured by its own
/// <c>services/&lt;name&gt;/appsettings.json</c> and joined to the registry with its own join token. The registry serves
/// HTTPS with a certificate from its own CA, which every service pins (<c>Mesh:Registry:CaFile</c>); the dashboard, for
/// a browser on this machine, is also on a plain http loopback port.
/// </summary>
internal sealed class BookinfoMesh : IAsyncDisposable
{
    private readonly List<ServiceHost> _services = [];
    private readonly Dictionary<string, string> _joinTokens = new(StringComparer.Ordinal);
    private WebApplication? _registry;

    private BookinfoMesh(string dataDirectory)
    {
        DataDirectory = dataDirectory;
        AdminToken = NewToken();
    }

    public string DataDirectory { get; }

    public string AdminToken { get; }

    /// <summary>The registry's HTTPS address, the one services use.</summary>
    public Uri RegistryAddress { get; private set; } = null!;

    /// <summary>The registry's CA root (PEM), which services pin.</summary>
    public string RegistryCaFile { get; private set; } = null!;

    /// <summary>The same root's fingerprint, as the registry prints it.</summary>
    public string RegistryCaFingerprint { get; private set; } = null!;

    /// <summary>
    /// The dashboard with the admin token in the fragment: the browser keeps it, no server ever sees it in a URL. It is
    /// on the loopback http port, which a browser opens without a warning about the mesh's own CA.
    /// </summary>
    public Uri DashboardUrl => new(_dashboardAddress, $"/#token={AdminToken}");

    private Uri _dashboardAddress = null!;

    /// <summary>An admin client of the registry over HTTPS that trusts the registry's CA and nothing else.</summary>
    public HttpClient CreateAdminClient()
    {
        var root = X509CertificateLoader.LoadCertificateFromFile(RegistryCaFile);
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            if (certificate is not X509Certificate2 leaf)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.CustomTrustStore.Add(root);
            return chain.Build(leaf);
        };
        var client = new HttpClient(handler) { BaseAddress = RegistryAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        return client;
    }

    public IReadOnlyList<ServiceHost> Services => _services;

    public ServiceHost Service(string instanceId) => _services.Single(s => s.InstanceId == instanceId);

    public static async Task<BookinfoMesh> StartAsync()
    {
        var mesh = new BookinfoMesh(Directory.CreateTempSubdirectory("meshlib-bookinfo-").FullName);
        try
        {
            await mesh.StartRegistryAsync();

            // Leaves first, so that every caller finds its destinations registered when it starts.
            await mesh.StartServiceAsync("ratings", "ratings", "ratings-1", BookinfoApps.MapRatings, BookinfoApps.AddRatings);
            await mesh.StartServiceAsync("details", "details", "details-1", BookinfoApps.MapDetails);
            await mesh.StartServiceAsync("reviews-v1", "reviews", "reviews-v1-a", app => BookinfoApps.MapReviews(app, "v1", stars: null));
            await mesh.StartServiceAsync("reviews-v1", "reviews", "reviews-v1-b", app => BookinfoApps.MapReviews(app, "v1", stars: null));
            await mesh.StartServiceAsync("reviews-v2", "reviews", "reviews-v2-a", app => BookinfoApps.MapReviews(app, "v2", stars: "black"),
                BookinfoApps.AddRatingsClient);
            await mesh.StartServiceAsync("reviews-v3", "reviews", "reviews-v3-a", app => BookinfoApps.MapReviews(app, "v3", stars: "red"),
                BookinfoApps.AddRatingsClient);
            await mesh.StartServiceAsync("productpage", "productpage", "productpage-1", BookinfoApps.MapProductPage);
            await mesh.StartServiceAsync("users", "users", "users-1", _ => { });
            await mesh.StartIngressAsync();
        }
        catch
        {
            await mesh.DisposeAsync();
            throw;
        }

        return mesh;
    }

    /// <summary>Waits until <paramref name="instanceId"/>'s mesh knows <paramref name="count"/> endpoints of <paramref name="service"/>.</summary>
    public async Task WaitForEndpointsAsync(string instanceId, string service, int count, CancellationToken cancellationToken)
    {
        var host = Service(instanceId);
        await WaitAsync(() => host.Status.Services.TryGetValue(service, out var s) && s.Endpoints == count,
            $"{instanceId} to see {count} endpoint(s) of {service}", cancellationToken);
    }

    /// <summary>Waits until each of <paramref name="callers"/> (instance ids) routes to <paramref name="service"/> by a route named <paramref name="route"/>.</summary>
    public async Task WaitForRouteAsync(string[] callers, string service, string route, CancellationToken cancellationToken)
    {
        foreach (var host in _services.Where(s => callers.Contains(s.InstanceId) && !s.Stopped))
        {
            await WaitAsync(() => host.Status.Services.TryGetValue(service, out var s) && s.Routes.Contains(route),
                $"{host.InstanceId} to route {service} by '{route}'", cancellationToken);
        }
    }

    /// <summary>Stops an instance the way a crash does: no deregistration, its port closed, its lease left to expire.</summary>
    public async Task KillAsync(string instanceId)
    {
        var host = Service(instanceId);
        host.Stopped = true;
        using var crashed = new CancellationTokenSource();
        await crashed.CancelAsync();
        await host.App.StopAsync(crashed.Token);
    }

    public async ValueTask DisposeAsync()
    {
        // Callers first, so nothing calls a service that has already gone; each deregisters and drains on its way out.
        var stopping = new List<Task>();
        foreach (var service in Enumerable.Reverse(_services))
        {
            stopping.Add(StopAsync(service.App, service.Stopped));
        }

        await Task.WhenAll(stopping);
        if (_registry is not null)
        {
            await StopAsync(_registry, stopped: false);
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still closing; the folder is in the temporary directory and harmless.
        }
    }

    private static async Task StopAsync(WebApplication app, bool stopped)
    {
        if (!stopped)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await app.StopAsync(timeout.Token);
        }

        await app.DisposeAsync();
    }

    private async Task StartRegistryAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = DataDirectory });
        Quiet(builder);
        var settings = new Dictionary<string, string?>
        {
            ["MeshRegistry:DataPath"] = Path.Combine(DataDirectory, "registry.db"),
            ["MeshRegistry:AdminToken"] = AdminToken,
        };
        foreach (var service in new[] { "users", "productpage", "details", "reviews", "ratings", "ingress" })
        {
            _joinTokens[service] = NewToken();
            settings[$"MeshRegistry:JoinTokens:{service}"] = _joinTokens[service];
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps());
            k.Listen(IPAddress.Loopback, 0);
        });
        builder.Services.AddMeshRegistry(output: TextWriter.Null);
        _registry = builder.Build();
        _registry.MapMeshRegistry();
        await _registry.StartAsync();
        var addresses = _registry.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).ToList();
        RegistryAddress = addresses.First(a => a.Scheme == Uri.UriSchemeHttps);
        _dashboardAddress = addresses.First(a => a.Scheme == Uri.UriSchemeHttp);

        // The CA's roots are public: anyone may fetch them, as an operator would with curl. Over this loopback port
        // nothing can come between; across a network the fingerprint the registry prints is what proves the file.
        using var http = new HttpClient { BaseAddress = _dashboardAddress };
        var roots = await http.GetStringAsync(new Uri("/v1/ca/bundle.pem", UriKind.Relative));
        RegistryCaFile = Path.Combine(DataDirectory, "registry-ca.pem");
        await File.WriteAllTextAsync(RegistryCaFile, roots);
        using var root = X509Certificate2.CreateFromPem(roots);
        RegistryCaFingerprint = CaFingerprint.Of(root);
    }

    /// <summary>The ingress, the demo's plain-HTTP door to productpage (see <see cref="BookinfoApps.MapIngress"/>).</summary>
    public ServiceHost Ingress => Service("ingress-1");

    /// <summary>
    /// Starts the ingress on its fixed port (9080, in its appsettings.json), so that its URL is
    /// the same every run; when another program holds that port, on a free one instead.
    /// </summary>
    private async Task StartIngressAsync()
    {
        try
        {
            await StartServiceAsync("ingress", "ingress", "ingress-1", BookinfoApps.MapIngress);
        }
        catch (IOException)
        {
            await StartServiceAsync("ingress", "ingress", "ingress-1", BookinfoApps.MapIngress,
                settings: new() { ["Urls"] = "http://127.0.0.1:0" });
        }
    }

    private async Task StartServiceAsync(string folder, string service, string instanceId, Action<WebApplication> map,
        Action<IServiceCollection>? addServices = null, Dictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        Quiet(builder);

        // The service's own appsettings.json holds its identity, policies, security mode and listening address
        // (http://127.0.0.1:0, a free port, with Kestrel's default HTTP/1.1 and HTTP/2: the mesh's TLS offers both by ALPN,
        // which is how ratings' gRPC gets HTTP/2); only what exists at run time (the registry's address and CA file, this
        // run's join token, the instance id) is added here.
        builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "services", folder, "appsettings.json"), optional: false);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mesh:Registry:Url"] = RegistryAddress.ToString(),
            ["Mesh:Registry:CaFile"] = RegistryCaFile,
            ["Mesh:Registry:Token"] = _joinTokens[service],
            ["Mesh:Registry:InstanceId"] = instanceId,
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        builder.Services.AddMesh();
        addServices?.Invoke(builder.Services);
        var app = builder.Build();
        app.UseMesh();
        app.Use(async (context, next) =>
        {
            context.Response.Headers["x-instance"] = instanceId;
            await next(context);
        });
        map(app);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        _services.Add(new ServiceHost(service, instanceId, app));
    }

    private static void Quiet(WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();

        // The demo stops its hosts itself (Ctrl+C stops them all, in order); no host may react to the signal alone.
        builder.Services.AddSingleton<IHostLifetime, DemoLifetime>();
    }

    private static async Task WaitAsync(Func<bool> condition, string what, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            try
            {
                await Task.Delay(20, timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Waited 30 s for {what}.");
            }
        }
    }

    private static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    private sealed class DemoLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
