using System.Net;
using Mesh.Client.Startup;
using Mesh.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Tests.Startup;

/// <summary>
/// The check of the Mesh section at host start (in Mesh.Client, so AddMesh() and AddMeshClient() alike), in process: the app still gets the exception to handle, the host's
/// stack-trace log of it is dropped, and every other start failure keeps its log.
/// </summary>
public sealed class MeshStartupCheckTests
{
    [Fact]
    public async Task A_rejected_mesh_configuration_throws_every_error_and_the_host_does_not_log_its_stack_trace()
    {
        var (app, logs) = Build(new()
        {
            ["Mesh:Services:reviews:LoadBalancer:Policy"] = "Fastest",
            ["Mesh:Telemetry:MaxSeriesPerMetric"] = "0",
        });
        await using (app)
        {
            var ex = await Should.ThrowAsync<OptionsValidationException>(() => app.StartAsync());
            ex.OptionsType.ShouldBe(typeof(MeshOptions));
            ex.Failures.Count().ShouldBe(2);
            app.Services.GetRequiredService<MeshStartupRejection>().IsRejected.ShouldBeTrue();
            logs.GetSnapshot().ShouldNotContain(r => r.Category == MeshStartupLogFilter.HostCategory && r.Level >= LogLevel.Error);

            var lines = MeshStartupRejection.Lines(ex);
            lines.Count.ShouldBe(3);
            lines[0].ShouldStartWith("error: Mesh:");
            lines[1].ShouldStartWith("error: Mesh:");
            lines.ShouldContain(l => l.Contains("Mesh:Services:reviews:LoadBalancer:Policy", StringComparison.Ordinal));
            lines.ShouldContain(l => l.Contains("Mesh:Telemetry:MaxSeriesPerMetric", StringComparison.Ordinal));
            lines[2].ShouldBe("The app did not start: its Mesh configuration has 2 errors.");
        }
    }

    [Fact]
    public async Task A_worker_service_with_AddMeshClient_gets_the_same_check()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddFakeLogging();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Mesh:Servce:Name"] = "worker" });
        builder.Services.AddMeshClient();
        using var host = builder.Build();
        host.Services.GetRequiredService<IHostLifetime>().ShouldBeOfType<MeshStartupCheck>();

        var ex = await Should.ThrowAsync<OptionsValidationException>(() => host.StartAsync());
        MeshStartupRejection.Lines(ex)[0].ShouldStartWith("error: Mesh:Servce: unknown setting 'Servce'");
        host.Services.GetRequiredService<MeshStartupRejection>().IsRejected.ShouldBeTrue();
        host.Services.GetFakeLogCollector().GetSnapshot()
            .ShouldNotContain(r => r.Category == MeshStartupLogFilter.HostCategory && r.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task Another_start_failure_keeps_the_hosts_error_log()
    {
        var (app, logs) = Build([], services => services.AddHostedService<FailingStart>());
        await using (app)
        {
            await Should.ThrowAsync<InvalidOperationException>(() => app.StartAsync());
            app.Services.GetRequiredService<MeshStartupRejection>().IsRejected.ShouldBeFalse();
            logs.GetSnapshot().ShouldContain(r => r.Category == MeshStartupLogFilter.HostCategory && r.Level >= LogLevel.Error);
        }
    }

    [Fact]
    public async Task A_valid_configuration_starts_through_the_wrapped_lifetime()
    {
        var (app, _) = Build(new() { ["Mesh:Service:Name"] = "productpage" });
        await using (app)
        {
            app.Services.GetRequiredService<IHostLifetime>().ShouldBeOfType<MeshStartupCheck>();
            await app.StartAsync();
            await app.StopAsync();
        }
    }

    private static (WebApplication App, FakeLogCollector Logs) Build(Dictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddFakeLogging();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddMesh();
        services?.Invoke(builder.Services);
        var app = builder.Build();
        return (app, app.Services.GetFakeLogCollector());
    }

    private sealed class FailingStart : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("not the mesh's");

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
