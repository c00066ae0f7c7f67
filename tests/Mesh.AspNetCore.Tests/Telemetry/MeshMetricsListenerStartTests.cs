using System.Net;
using Mesh.AspNetCore.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Tests.Telemetry;

/// <summary>
/// The plaintext metrics listener starts without a warning: every app that sets <c>Mesh:Telemetry:MetricsListener</c>
/// would otherwise log one at each start, about a protocol it never serves.
/// </summary>
public sealed class MeshMetricsListenerStartTests
{
    [Fact]
    public async Task The_listener_starts_without_warnings_and_serves_metrics_over_http1()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddFakeLogging();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mesh:Service:Name"] = "web",
            ["Mesh:Telemetry:MetricsListener"] = "http://127.0.0.1:0",
        });
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddMesh();
        await using var app = builder.Build();
        app.UseMesh();
        await app.StartAsync();

        var listener = app.Services.GetRequiredService<MeshMetricsListener>().BoundAddress.ShouldNotBeNull();
        using var client = new HttpClient();
        using var response = await client.GetAsync(new Uri(listener, "/metrics"));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Version.ShouldBe(HttpVersion.Version11);
        await app.StopAsync();

        app.Services.GetFakeLogCollector().GetSnapshot().Where(r => r.Level >= LogLevel.Warning)
            .Select(r => $"{r.Category}: {r.Message}").ShouldBeEmpty();
    }
}
