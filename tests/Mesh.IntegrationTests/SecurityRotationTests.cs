using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Mesh.Client.Security;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests;

/// <summary>
/// Certificate and root rotation under steady load, end to end: a real registry CA issuing one-minute certificates, a
/// Strict server and a Strict client that get and renew theirs from it, and 200 requests a second between them. One
/// request in twenty closes its connection, so new TLS handshakes happen all the time and meet every rotation.
/// These run alone: they are long and they measure failures under load.
/// </summary>
[Collection(nameof(SecurityRotationTests))]
[CollectionDefinition(nameof(SecurityRotationTests), DisableParallelization = true)]
public sealed class SecurityRotationTests(ITestOutputHelper output)
{
    private const int RequestsPerSecond = 200;

    // Three minutes of real time: left out of ./test.sh by default, run by .ci/run (see README, Development).
    [Fact]
    [Trait("Category", "Soak")]
    public async Task Sixty_second_certificates_rotate_under_200_requests_per_second_for_three_minutes_without_a_failed_request()
    {
        await using var mesh = await MeshPair.StartAsync(output);
        var load = Load.Start(mesh.Client.Client, RequestsPerSecond);

        await Task.Delay(TimeSpan.FromMinutes(3)); // the length of the run itself, not a wait for a condition
        await load.StopAsync();

        mesh.Report(load);
        load.Failures.ShouldBeEmpty(string.Join('\n', load.Failures.Take(10)));
        load.Succeeded.ShouldBeGreaterThan(0);

        // Six renewals are due in three minutes of one-minute certificates; at least four must have happened on each side.
        mesh.ServerIdentity.Renewals.ShouldBeGreaterThanOrEqualTo(4);
        mesh.ClientIdentity.Renewals.ShouldBeGreaterThanOrEqualTo(4);
        mesh.Logs.GetSnapshot().Where(e => e.Message.Contains("past 80%", StringComparison.Ordinal)).ShouldBeEmpty();

        // Registry, server and client logged every issuance; none of it holds a key or a token.
        var logs = string.Join('\n', mesh.Logs.GetSnapshot().Select(e => e.Message));
        logs.ShouldContain("spiffe://mesh.local/svc/reviews");
        logs.ShouldNotContain("PRIVATE KEY");
        logs.ShouldNotContain(RegistryHost.JoinToken("reviews"));
        logs.ShouldNotContain(RegistryHost.JoinToken("productpage"));
        logs.ShouldNotContain(RegistryHost.AdminToken);
    }

    [Fact]
    public async Task Root_rotation_walked_through_under_load_fails_no_request()
    {
        await using var mesh = await MeshPair.StartAsync(output);
        var admin = mesh.Admin;
        var roots = await admin.GetFromJsonAsync("/v1/ca/roots");
        var oldRoot = roots.GetProperty("roots")[0].GetProperty("id").GetString()!;
        var load = Load.Start(mesh.Client.Client, RequestsPerSecond);
        await Poll.UntilAsync(() => load.Succeeded > 1000, TimeSpan.FromMinutes(1), "load is flowing");

        // 1. A new root: trusted by both workloads once their trust bundles refresh; the old one still signs.
        using var added = await admin.PostAsync(new Uri("/v1/ca/roots", UriKind.Relative), null);
        added.StatusCode.ShouldBe(HttpStatusCode.Created);
        var newRoot = JsonDocument.Parse(await added.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        await Poll.UntilAsync(() => mesh.BothTrust(2), TimeSpan.FromMinutes(1), "both workloads trust both roots");
        output.WriteLine($"{mesh.Elapsed}: both trust roots {oldRoot} and {newRoot}");

        // 2. Activate it: each workload moves to a certificate from it at its next renewal.
        (await admin.PostAsync(new Uri($"/v1/ca/roots/{newRoot}/activate", UriKind.Relative), null)).EnsureSuccessStatusCode();
        await Poll.UntilAsync(() => mesh.BothIssuedBy(newRoot), TimeSpan.FromMinutes(2), "both workloads hold certificates from the new root");
        output.WriteLine($"{mesh.Elapsed}: both hold certificates from {newRoot}");

        // 3. Remove the old root: trusted no more anywhere.
        (await admin.DeleteAsync(new Uri($"/v1/ca/roots/{oldRoot}", UriKind.Relative))).EnsureSuccessStatusCode();
        await Poll.UntilAsync(() => mesh.BothTrust(1), TimeSpan.FromMinutes(1), "both workloads dropped the old root");
        output.WriteLine($"{mesh.Elapsed}: old root {oldRoot} removed everywhere");

        // New connections keep being made (one request in twenty closes its connection) on the new root alone.
        var after = load.Succeeded;
        await Poll.UntilAsync(() => load.Succeeded > after + 2000, TimeSpan.FromMinutes(1), "load goes on after the rotation");
        await load.StopAsync();

        mesh.Report(load);
        load.Failures.ShouldBeEmpty(string.Join('\n', load.Failures.Take(10)));
    }

    /// <summary>A registry with a one-minute CA, a Strict reviews server and a Strict productpage client, each identified by the registry's CA.</summary>
    private sealed class MeshPair : IAsyncDisposable
    {
        private readonly ITestOutputHelper _output;
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        private MeshPair(ITestOutputHelper output)
        {
            _output = output;
        }

        public RegistryHost Registry { get; private set; } = null!;

        public Uri RegistryAddress => Registry.Address;

        public WebApplication Server { get; private set; } = null!;

        public MeshTestClient Client { get; private set; } = null!;

        public FakeLogCollector Logs { get; } = new();

        public TimeSpan Elapsed => _clock.Elapsed;

        public RegistryWorkloadIdentity ServerIdentity => (RegistryWorkloadIdentity)Server.Services.GetRequiredService<MeshSecurity>().Identity!;

        public RegistryWorkloadIdentity ClientIdentity => (RegistryWorkloadIdentity)Client.GetService<MeshSecurity>().Identity!;

        public HttpClient Admin => Registry.Admin;

        public static async Task<MeshPair> StartAsync(ITestOutputHelper output)
        {
            var pair = new MeshPair(output);
            try
            {
                await pair.StartRegistryAsync();
                await pair.StartServerAsync();
                pair.StartClient();
                await Poll.UntilAsync(() => pair.ClientIdentity.Current is not null && pair.ServerIdentity.Current is not null, TimeSpan.FromSeconds(30),
                    "both workloads have certificates");
            }
            catch
            {
                await pair.DisposeAsync();
                throw;
            }

            return pair;
        }

        public bool BothTrust(int roots) => ServerIdentity.Current?.Roots.Count == roots && ClientIdentity.Current?.Roots.Count == roots;

        public bool BothIssuedBy(string root) =>
            ServerIdentity.Current?.Certificate.Issuer.Contains(root, StringComparison.Ordinal) == true &&
            ClientIdentity.Current?.Certificate.Issuer.Contains(root, StringComparison.Ordinal) == true;

        public void Report(Load load)
        {
            _output.WriteLine($"{Elapsed}: {load.Succeeded} requests succeeded, {load.Failures.Count} failed; renewals: server {ServerIdentity.Renewals}, client {ClientIdentity.Renewals}");
            foreach (var failure in load.Failures.Take(10))
            {
                _output.WriteLine("FAILED " + failure);
            }

            foreach (var entry in Logs.GetSnapshot().Where(e => e.Level >= LogLevel.Warning).Take(50))
            {
                _output.WriteLine($"{entry.Level} {entry.Category}: {entry.Message}");
            }
        }

        private async Task StartRegistryAsync() =>
            Registry = await RegistryHost.StartAsync(configure: s => s["MeshRegistry:CertificateLifetime"] = "00:01:00", services: ["reviews", "productpage"],
                logs: Logs);

        private async Task StartServerAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(new FakeLoggerProvider(Logs));
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Mesh:Service:Name"] = "reviews",
                ["Mesh:Registry:Url"] = RegistryAddress.ToString(),
                ["Mesh:Registry:Token"] = RegistryHost.JoinToken("reviews"),
                ["Mesh:Registry:Register"] = "false",
                ["Mesh:Registry:CacheDirectory"] = string.Empty,
                ["Mesh:Security:Mode"] = "Strict",
            });
            builder.Services.AddMesh();
            Server = builder.Build();
            Server.UseMesh();
            Server.MapGet("/", (HttpContext context) => context.User.Identity?.Name ?? "anonymous");
            await Server.StartAsync();
        }

        private void StartClient()
        {
            var port = new Uri(Server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
            Client = MeshTestClient.Create(new
            {
                Service = new { Name = "productpage" },
                Registry = new { Url = RegistryAddress, Token = RegistryHost.JoinToken("productpage"), Register = false, CacheDirectory = string.Empty },
                Security = new { Mode = "Strict" },
                // Retries off: a failed handshake must show as a failed request, not be hidden by a retry.
                Services = new Dictionary<string, object>
                {
                    ["reviews"] = new
                    {
                        Endpoints = new[] { new { Address = $"https://127.0.0.1:{port}" } },
                        Routes = new[] { new { Name = "default", Retry = new { Attempts = 0 } } },
                    },
                },
            }, configure: s => s.AddLogging(b => b.AddProvider(new FakeLoggerProvider(Logs))));
        }

        public async ValueTask DisposeAsync()
        {
            if (Client is not null)
            {
                await Client.DisposeAsync();
            }

            if (Server is not null)
            {
                await Server.StopAsync();
                await Server.DisposeAsync();
            }

            if (Registry is not null)
            {
                await Registry.DisposeAsync();
            }
        }
    }

    /// <summary>Requests at a steady rate (sent on schedule, not one after another), every outcome kept.</summary>
    private sealed class Load
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private Task _run = Task.CompletedTask;
        private long _succeeded;

        public long Succeeded => Interlocked.Read(ref _succeeded);

        public ConcurrentQueue<string> Failures { get; } = new();

        public static Load Start(HttpClient client, int perSecond)
        {
            var load = new Load();
            load._run = Task.Run(() => load.RunAsync(client, perSecond));
            return load;
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await _run;
        }

        private async Task RunAsync(HttpClient client, int perSecond)
        {
            var inflight = new List<Task>();
            long sent = 0;
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            try
            {
                while (await timer.WaitForNextTickAsync(_stop.Token))
                {
                    var due = (long)(_clock.Elapsed.TotalSeconds * perSecond);
                    for (; sent < due; sent++)
                    {
                        inflight.Add(SendAsync(client, closeConnection: sent % 20 == 0));
                    }

                    inflight.RemoveAll(t => t.IsCompleted);
                }
            }
            catch (OperationCanceledException)
            {
            }

            await Task.WhenAll(inflight);
        }

        private async Task SendAsync(HttpClient client, bool closeConnection)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("http://reviews/"));
                if (closeConnection)
                {
                    request.Headers.ConnectionClose = true;
                }

                using var response = await client.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK || body != "productpage")
                {
                    Failures.Enqueue($"{_clock.Elapsed}: {(int)response.StatusCode} {body}");
                    return;
                }

                Interlocked.Increment(ref _succeeded);
            }
            catch (Exception ex)
            {
                Failures.Enqueue($"{_clock.Elapsed}: {ex}");
            }
        }
    }
}

internal static class JsonHttp
{
    public static async Task<JsonElement> GetFromJsonAsync(this HttpClient client, string path)
    {
        var text = await client.GetStringAsync(new Uri(path, UriKind.Relative));
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }
}
