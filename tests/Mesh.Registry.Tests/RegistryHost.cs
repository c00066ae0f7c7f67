using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// The registry hosted in-process on real Kestrel (127.0.0.1:0) over a real SQLite file in a temporary folder, which
/// is removed on dispose. <see cref="RestartAsync"/> stops it and starts a new one on the same file.
/// </summary>
internal sealed class RegistryHost : IAsyncDisposable
{
    public const string AdminToken = "test-admin-token-0123456789";
    public const string ReviewsToken = "test-join-reviews-0123456789";
    public const string RatingsToken = "test-join-ratings-0123456789";

    private readonly TimeProvider? _time;
    private readonly Dictionary<string, string?> _settings;
    private readonly bool _https;
    private readonly List<HttpClient> _clients = [];

    private RegistryHost(string directory, TimeProvider? time, Dictionary<string, string?> settings, bool https)
    {
        Directory = directory;
        _time = time;
        _settings = settings;
        _https = https;
    }

    public string Directory { get; }

    /// <summary>The configuration the next start (or <see cref="RestartAsync"/>) uses.</summary>
    public Dictionary<string, string?> Settings => _settings;

    public string DataPath => Path.Combine(Directory, "registry.db");

    public WebApplication App { get; private set; } = null!;

    public Uri Address { get; private set; } = null!;

    public StringWriter Console { get; private set; } = new();

    public FakeLogCollector Logs { get; } = new();

    internal RegistryState State => App.Services.GetRequiredService<RegistryState>();

    /// <summary>Starts the registry; with <paramref name="https"/> it listens on HTTPS with its CA-issued certificate.</summary>
    public static async Task<RegistryHost> StartAsync(TimeProvider? time = null, Action<Dictionary<string, string?>>? configure = null, bool https = false)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var settings = new Dictionary<string, string?>
        {
            ["MeshRegistry:DataPath"] = Path.Combine(directory, "registry.db"),
            ["MeshRegistry:AdminToken"] = AdminToken,
            ["MeshRegistry:JoinTokens:reviews"] = ReviewsToken,
            ["MeshRegistry:JoinTokens:ratings"] = RatingsToken,
        };
        configure?.Invoke(settings);
        var host = new RegistryHost(directory, time, settings, https);
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
    /// Starts a registry with <paramref name="settings"/> (on a fresh data folder, with the admin token) that must
    /// fail its options validation, and gives the message listing the errors.
    /// </summary>
    public static async Task<string> StartupErrorsAsync(Dictionary<string, string?> settings)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        try
        {
            settings["MeshRegistry:DataPath"] = Path.Combine(directory, "r.db");
            settings["MeshRegistry:AdminToken"] = AdminToken;
            await using var app = Build(directory, settings, null, new StringWriter(), null);
            var ex = await Should.ThrowAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());
            return ex.Message;
        }
        finally
        {
            DeleteDirectory(directory);
        }
    }

    public static WebApplication Build(string contentRoot, Dictionary<string, string?> settings, TimeProvider? time, StringWriter console,
        ILoggerProvider? logs, bool https = false)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = contentRoot });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
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
        var app = builder.Build();
        app.MapMeshRegistry();
        return app;
    }

    public async Task RestartAsync()
    {
        await StopAppAsync();
        await StartAppAsync();
    }

    public HttpClient Client(string? token) => Client(token, clientCertificate: null);

    /// <summary>
    /// A client of this registry. Over HTTPS it trusts the registry's CA only (at the registry's clock) and presents
    /// <paramref name="clientCertificate"/> when given.
    /// </summary>
    public HttpClient Client(string? token, X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler();
        if (Address.Scheme == Uri.UriSchemeHttps)
        {
            var ca = App.Services.GetRequiredService<Ca.CertificateAuthority>();
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

    public HttpClient Admin => Client(AdminToken);

    /// <summary>Whether <paramref name="leaf"/> chains to one of <paramref name="roots"/> (and nothing else) at <paramref name="at"/>.</summary>
    public static bool ChainsTo(X509Certificate2 leaf, X509Certificate2Collection roots, DateTimeOffset at)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        return chain.Build(leaf);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAppAsync();
        DeleteDirectory(Directory);
    }

    public static void DeleteDirectory(string directory)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (System.IO.Directory.Exists(directory))
                {
                    System.IO.Directory.Delete(directory, recursive: true);
                }

                return;
            }
            catch (IOException) when (attempt < 5)
            {
                Thread.Sleep(50); // a file handle closing on another thread; only in clean-up
            }
        }
    }

    private async Task StartAppAsync()
    {
        Console = new StringWriter();
        App = Build(Directory, _settings, _time, Console, new FakeLoggerProvider(Logs), _https);
        await App.StartAsync();
        Address = new Uri(App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
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

/// <summary>The registry's log records as one text, so tests can check that secrets never appear.</summary>
internal static class LogText
{
    /// <summary>Level, category and message of every record, with its exception, so a secret in an exception is found too.</summary>
    public static string AllText(this FakeLogCollector logs) =>
        string.Join('\n', logs.GetSnapshot().Select(e =>
            $"{e.Level} {e.Category} {e.Message}" + (e.Exception is null ? string.Empty : " " + e.Exception)));
}

/// <summary>Small helpers for the registry's JSON API.</summary>
internal static class Api
{
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static string Registration(string address, int ttl = 30, string? version = "v1", string? zone = null, string labels = "{}") =>
        $$"""{ "address": "{{address}}", "version": {{(version is null ? "null" : $"\"{version}\"")}}, "zone": {{(zone is null ? "null" : $"\"{zone}\"")}}, "labels": {{labels}}, "ttlSeconds": {{ttl}} }""";

    public static async Task<HttpResponseMessage> RegisterAsync(this HttpClient client, string service, string id, string address, int ttl = 30,
        string? version = "v1") =>
        await client.PutAsync(new Uri($"/v1/services/{service}/instances/{id}", UriKind.Relative), Json(Registration(address, ttl, version)));

    public static async Task<JsonElement> GetJsonAsync(this HttpClient client, string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, body);
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    public static async Task<JsonElement> ReadJsonAsync(this HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    public static async Task<List<string>> InstanceIdsAsync(this HttpClient client, string service)
    {
        var answer = await client.GetJsonAsync($"/v1/services/{service}/instances");
        return [.. answer.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("id").GetString()!)];
    }

    public static async Task<string> ProblemAsync(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, body);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        return body;
    }
}
