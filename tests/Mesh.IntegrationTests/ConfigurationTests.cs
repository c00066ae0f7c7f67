using System.Net;
using Mesh.Client.Runtime;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace Mesh.IntegrationTests;

public sealed class ConfigurationTests(ITestOutputHelper output)
{
    /// <summary>Five mistakes in one service: every one must be reported, each with its path.</summary>
    private static readonly Dictionary<string, string?> FiveMistakes = new()
    {
        ["Mesh:Services:reviews:Endpoints:0:Address"] = "http://127.0.0.1:5001",
        ["Mesh:Services:reviews:Endpoints:0:Labels:version"] = "v1",
        ["Mesh:Services:reviews:Subsets:v1:version"] = "v1",
        ["Mesh:Services:reviews:LoadBalancer:Policy"] = "Fastest",
        ["Mesh:Services:reviews:Routes:0:Name"] = "default",
        ["Mesh:Services:reviews:Routes:0:Destinations:0:Subset"] = "v1",
        ["Mesh:Services:reviews:Routes:0:Destinations:0:Weight"] = "60",
        ["Mesh:Services:reviews:Routes:0:Destinations:1:Subset"] = "v3",
        ["Mesh:Services:reviews:Routes:0:Destinations:1:Weight"] = "50",
        ["Mesh:Services:reviews:Routes:0:Timeout"] = "-00:00:01",
        ["Mesh:Services:reviews:Routes:0:Fault:Abort:Percentage"] = "150",
        ["Mesh:Services:reviews:Routes:0:Fault:Abort:HttpStatus"] = "503",
    };

    private static readonly string[] FiveMistakesReported =
    [
        "Mesh:Services:reviews:Routes:0:Destinations: weights sum to 110, must be 100",
        "Mesh:Services:reviews:Routes:0:Destinations:1:Subset: unknown subset 'v3'",
        "Mesh:Services:reviews:LoadBalancer:Policy: 'Fastest' is not one of",
        "Mesh:Services:reviews:Routes:0:Fault:Abort:Percentage: 150 must be between 0 and 100",
        "Mesh:Services:reviews:Routes:0:Timeout: -00:00:01 must be above 00:00:00",
    ];

    [Fact]
    public async Task Invalid_configuration_fails_host_start_listing_every_error_with_its_path()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(FiveMistakes);
        builder.Services.AddMeshClient();
        using var host = builder.Build();

        var ex = await Should.ThrowAsync<OptionsValidationException>(() => host.StartAsync());
        ShouldReport(ex, FiveMistakesReported);
    }

    [Fact]
    public async Task Invalid_configuration_fails_web_application_start_listing_every_error_with_its_path()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(FiveMistakes);
        builder.Services.AddMesh();
        await using var app = builder.Build();
        app.UseMesh();
        app.MapMeshEndpoints();

        var ex = await Should.ThrowAsync<OptionsValidationException>(() => app.StartAsync());
        ShouldReport(ex, FiveMistakesReported);
    }

    [Fact]
    public async Task Unknown_keys_fail_host_start_with_their_paths()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mesh:Services:reviews:Endpoints:0:Address"] = "http://127.0.0.1:5001",
            ["Mesh:Services:reviews:LoadBalancer:Polcy"] = "RoundRobin",
            ["Mesh:Services:reviews:Routes:0:Name"] = "default",
            ["Mesh:Services:reviews:Routes:0:Retry:Atempts"] = "3",
            ["Mesh:Servics:ratings:Endpoints:0:Address"] = "http://127.0.0.1:5002",
        });
        builder.Services.AddMeshClient();
        using var host = builder.Build();

        var ex = await Should.ThrowAsync<OptionsValidationException>(() => host.StartAsync());
        ShouldReport(ex,
        [
            "Mesh:Services:reviews:Routes:0:Retry:Atempts: unknown setting 'Atempts'",
            "Mesh:Services:reviews:LoadBalancer:Polcy: unknown setting 'Polcy'",
            "Mesh:Servics: unknown setting 'Servics'",
        ]);
    }

    [Fact]
    public async Task An_invalid_reload_is_rejected_logged_and_counted_and_the_last_good_configuration_keeps_serving()
    {
        await using var v1 = await TestBackend.StartAsync("v1");
        await using var v2 = await TestBackend.StartAsync("v2");
        var service = TrafficTests.UniqueName("reload");
        object Config(object[] destinations, string policy = "RoundRobin", double mirrorPercentage = 0) => new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new object[]
                    {
                        new { v1.Address, Labels = new { version = "v1" } },
                        new { v2.Address, Labels = new { version = "v2" } },
                    },
                    Subsets = new { v1 = new { version = "v1" }, v2 = new { version = "v2" } },
                    LoadBalancer = new { Policy = policy },
                    Routes = new object[]
                    {
                        new { Name = "default", Destinations = destinations, Mirror = new { Subset = "v2", Percentage = mirrorPercentage } },
                    },
                },
            },
        };

        await using var mesh = MeshTestClient.Create(Config([new { Subset = "v1", Weight = 100 }]));
        using var reloads = TrafficTests.Counter(mesh, "mesh.config.reloads");
        await AllGoToAsync(mesh, service, "v1");

        // Would send 60% to v2 if it were taken; it has three mistakes.
        mesh.Reload(Config([new { Subset = "v2", Weight = 60 }, new { Subset = "v1", Weight = 50 }], policy: "Fastest", mirrorPercentage: 150));
        // IConfigurationRoot.Reload() raises its change token once per file provider and once itself, so the mesh sees
        // one edit twice; it reports it once.
        await Poll.UntilAsync(() => reloads.Count(t => t["result"] == "rejected") >= 1, because: "the reload is rejected");
        reloads.Count(t => t["result"] == "rejected").ShouldBe(1);
        reloads.Count(t => t["result"] == "accepted").ShouldBe(0);

        var errors = mesh.Logs.GetSnapshot().Where(e => e.Level == LogLevel.Error).ToList();
        errors.Count.ShouldBe(1, "the rejection is logged once");
        foreach (var error in errors)
        {
            error.Message.ShouldContain("rejected with 3 error(s)");
            error.Message.ShouldContain($"Mesh:Services:{service}:Routes:0:Destinations: weights sum to 110, must be 100");
            error.Message.ShouldContain($"Mesh:Services:{service}:LoadBalancer:Policy: 'Fastest' is not one of");
            error.Message.ShouldContain($"Mesh:Services:{service}:Routes:0:Mirror:Percentage: 150 must be between 0 and 100");
        }

        await AllGoToAsync(mesh, service, "v1");

        // A valid reload afterwards takes effect.
        mesh.Reload(Config([new { Subset = "v2", Weight = 100 }]));
        var rejected = reloads.Count(t => t["result"] == "rejected");
        await Poll.UntilAsync(() => reloads.Count(t => t["result"] == "accepted") >= 1, because: "the reload is accepted");
        reloads.Count(t => t["result"] == "accepted").ShouldBe(1);
        await AllGoToAsync(mesh, service, "v2");
        reloads.Count(t => t["result"] == "rejected").ShouldBe(rejected);
        mesh.Logs.GetSnapshot().Count(e => e.Level == LogLevel.Error).ShouldBe(rejected);
    }

    [Fact]
    public async Task A_settings_file_that_stops_parsing_is_rejected_and_the_last_good_configuration_keeps_serving()
    {
        await using var v1 = await TestBackend.StartAsync("v1");
        var service = TrafficTests.UniqueName("broken");
        var directory = Directory.CreateTempSubdirectory("mesh-broken-").FullName;
        var settings = Path.Combine(directory, "appsettings.json");
        var environment = Path.Combine(directory, "appsettings.Production.json");
        File.WriteAllText(settings, System.Text.Json.JsonSerializer.Serialize(new
        {
            Mesh = new { Services = new Dictionary<string, object> { [service] = new { Endpoints = new[] { new { v1.Address } } } } },
        }));
        File.WriteAllText(environment, """{ "Shop": { "Banner": "1" } }""");
        var configuration = new ConfigurationBuilder()
            .SetBasePath(directory)
            .AddJsonFile("appsettings.json", optional: false, reloadOnChange: true)
            .AddJsonFile("appsettings.Production.json", optional: true, reloadOnChange: true)
            .Build();
        var logs = new Microsoft.Extensions.Logging.Testing.FakeLogCollector();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.AddProvider(new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider(logs)));
        services.AddMeshClient();
        await using var provider = services.BuildServiceProvider();
        try
        {
            var runtime = provider.GetRequiredService<MeshRuntime>();
            using var reloads = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<long>(
                provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), "Mesh.Client", "mesh.config.reloads");
            runtime.Model.Services.ShouldContainKey(service);

            // An editor's save caught half-way: the file provider drops everything the file held.
            File.WriteAllText(settings, """{ "Mesh": { "Services": """);
            await Poll.UntilAsync(() => configuration[$"Mesh:Services:{service}:Endpoints:0:Address"] is null, because: "the file provider reads the broken file");
            await Poll.UntilAsync(() => reloads.Count(t => t["result"] == "rejected") >= 1, because: "the broken file is reported as a rejected reload");

            // Another source reloads while the file is still broken: the mesh must not take the file's absence as its new configuration.
            File.WriteAllText(environment, """{ "Shop": { "Banner": "2" } }""");
            await Poll.UntilAsync(() => configuration["Shop:Banner"] == "2", because: "the other file reloads");
            runtime.Model.Services.ShouldContainKey(service);
            logs.GetSnapshot().ShouldContain(e => e.Level == LogLevel.Error && e.Message.Contains("appsettings.json: could not be read", StringComparison.Ordinal));

            // The file saved whole, with one more service: the one configuration taken since the start.
            File.WriteAllText(settings, System.Text.Json.JsonSerializer.Serialize(new
            {
                Mesh = new
                {
                    Services = new Dictionary<string, object>
                    {
                        [service] = new { Endpoints = new[] { new { v1.Address } } },
                        ["other"] = new { Endpoints = new[] { new { v1.Address } } },
                    },
                },
            }));
            await Poll.UntilAsync(() => runtime.Model.Services.ContainsKey("other"), because: "the repaired file is taken");
            runtime.Model.Services.ShouldContainKey(service);
            reloads.Count(t => t["result"] == "accepted").ShouldBe(1);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_reload_of_settings_read_at_start_only_says_so_and_does_not_apply_half_of_them()
    {
        await using var v1 = await TestBackend.StartAsync("v1");
        var service = TrafficTests.UniqueName("startonly");
        object Config(string mode, int timeoutSeconds) => new
        {
            Security = new { Mode = mode },
            Services = new Dictionary<string, object>
            {
                [service] = new
                {
                    Endpoints = new[] { new { v1.Address } },
                    Routes = new[] { new { Name = "default", Timeout = TimeSpan.FromSeconds(timeoutSeconds).ToString("c") } },
                },
            },
        };

        await using var mesh = MeshTestClient.Create(Config("Permissive", 5));
        using var reloads = TrafficTests.Counter(mesh, "mesh.config.reloads");
        await AllGoToAsync(mesh, service, "v1");

        // Strict at start would need a workload identity; by a reload it must not turn every plain http endpoint into
        // https while the app's own TLS stays as it started.
        mesh.Reload(Config("Strict", 6));
        await Poll.UntilAsync(() => reloads.Count(t => t["result"] == "accepted") >= 1, because: "the reload is taken");
        mesh.GetService<MeshRuntime>().Model.Services[service].Routes[0].Timeout.ShouldBe(TimeSpan.FromSeconds(6));
        await AllGoToAsync(mesh, service, "v1");
        mesh.Logs.GetSnapshot().ShouldContain(e => e.Level == LogLevel.Warning
            && e.Message.Contains("Mesh:Security", StringComparison.Ordinal) && e.Message.Contains("next start", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Going_back_to_the_serving_configuration_after_a_rejection_is_reported()
    {
        await using var v1 = await TestBackend.StartAsync("v1");
        var service = TrafficTests.UniqueName("back");
        object Config(int weight) => new
        {
            Services = new Dictionary<string, object>
            {
                [service] = new { Endpoints = new[] { new { v1.Address } }, Routes = new[] { new { Name = "default", Destinations = new[] { new { Weight = weight } } } } },
            },
        };

        await using var mesh = MeshTestClient.Create(Config(100));
        using var reloads = TrafficTests.Counter(mesh, "mesh.config.reloads");
        mesh.Reload(Config(90));
        await Poll.UntilAsync(() => reloads.Count(t => t["result"] == "rejected") >= 1, because: "the reload is rejected");

        // The operator puts the file back: the rejection is over, which logs and metrics must say, though nothing changes.
        mesh.Reload(Config(100));
        await Poll.UntilAsync(() => reloads.Count(t => t["result"] == "accepted") >= 1, because: "the file is valid again");
        reloads.Count(t => t["result"] == "accepted").ShouldBe(1);
        mesh.Logs.GetSnapshot().ShouldContain(e => e.Level == LogLevel.Information && e.Message.Contains("valid again", StringComparison.Ordinal));
        await AllGoToAsync(mesh, service, "v1");
    }

    [Fact]
    public async Task Reloading_configuration_under_load_drops_no_request()
    {
        var backends = new List<TestBackend>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                backends.Add(await TestBackend.StartAsync($"b{i}"));
            }

            var service = TrafficTests.UniqueName("swap");
            object Config(TestBackend[] v1, TestBackend[] v2, int v1Weight, string policy) => new
            {
                Services = new Dictionary<string, object>
                {
                    [service] = new
                    {
                        Endpoints = v1.Select(b => new { b.Address, Labels = new { version = "v1" } })
                            .Concat(v2.Select(b => new { b.Address, Labels = new { version = "v2" } })).ToArray(),
                        Subsets = new { v1 = new { version = "v1" }, v2 = new { version = "v2" } },
                        LoadBalancer = new { Policy = policy },
                        Routes = new object[]
                        {
                            new
                            {
                                Name = "default",
                                Destinations = new object[] { new { Subset = "v1", Weight = v1Weight }, new { Subset = "v2", Weight = 100 - v1Weight } },
                            },
                        },
                    },
                },
            };
            var a = Config([backends[0], backends[1]], [backends[2]], 80, "RoundRobin");
            var b = Config([backends[1]], [backends[2], backends[3]], 30, "PeakEwma");

            await using var mesh = MeshTestClient.Create(a);
            using var reloadCounter = TrafficTests.Counter(mesh, "mesh.config.reloads");

            const int total = 4_000;
            var completed = 0;
            var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var names = backends.Select(x => x.Name).ToHashSet();
            var reloads = 0;
            var load = TrafficTests.RunAsync(total, 8, async (i, ct) =>
            {
                // Request i waits for reload i / 75: however the threads are scheduled, at least 50 reloads land
                // while requests are still in flight.
                while (Volatile.Read(ref reloads) < i / 75)
                {
                    await Task.Delay(1, ct);
                }

                try
                {
                    using var response = await mesh.Client.GetAsync(new Uri($"http://{service}/api/items/{i}"), ct);
                    var body = await response.Content.ReadAsStringAsync(ct);
                    if (response.StatusCode != HttpStatusCode.OK || !names.Contains(body))
                    {
                        failures.Enqueue($"{(int)response.StatusCode} {body}");
                    }
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex.ToString());
                }
                finally
                {
                    Interlocked.Increment(ref completed);
                }
            });

            // Swap configurations back and forth for as long as the load runs.
            while (!load.IsCompleted)
            {
                mesh.Reload(reloads % 2 == 0 ? b : a);
                Interlocked.Increment(ref reloads);
                await Task.Yield();
            }

            await load;
            output.WriteLine($"{reloads} reloads during {total} requests");
            failures.ShouldBeEmpty();
            completed.ShouldBe(total);
            reloads.ShouldBeGreaterThanOrEqualTo(50);
            reloadCounter.Count(t => t["result"] == "accepted").ShouldBe(reloads, "each reload changed the configuration once");
            reloadCounter.Count(t => t["result"] == "rejected").ShouldBe(0);
            backends.ShouldAllBe(x => x.Requests > 0, "both configurations served traffic");
            backends.Sum(x => x.Requests).ShouldBe(total, "each request was sent exactly once");
            var runtime = mesh.GetService<MeshRuntime>();
            runtime.Model.Services[service].Endpoints.Length.ShouldBe(3);
            runtime.Model.Services[service].Endpoints.ShouldContain(e => e.Authority == backends[reloads % 2 == 0 ? 0 : 3].Address.GetLeftPart(UriPartial.Authority));
        }
        finally
        {
            foreach (var x in backends)
            {
                await x.DisposeAsync();
            }
        }
    }

    private static void ShouldReport(OptionsValidationException ex, string[] expected)
    {
        foreach (var e in expected)
        {
            ex.Message.ShouldContain(e);
            ex.Failures.Count(f => f.StartsWith(e, StringComparison.Ordinal)).ShouldBe(1, $"'{e}' should be reported once");
        }

        ex.Failures.Count().ShouldBe(expected.Length, string.Join(Environment.NewLine, ex.Failures));
    }

    private static async Task AllGoToAsync(MeshTestClient mesh, string service, string expected)
    {
        for (var i = 0; i < 100; i++)
        {
            (await mesh.Client.GetStringAsync(new Uri($"http://{service}/api/items/{i}"))).ShouldBe(expected);
        }
    }
}
