using System.Net;
using System.Net.Sockets;
using Mesh.Client.Internal;
using Mesh.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Client.Tests.Registry;

/// <summary>
/// A registry the app cannot reach is logged with the cause, not only HttpClient's "An error occurred while sending
/// the request.": a refused connection and plain http sent to the registry's https port must read differently.
/// </summary>
public sealed class RegistryFailureReasonTests
{
    [Fact]
    public void The_reason_carries_the_inner_exceptions_messages_once_each()
    {
        var ex = new HttpRequestException("An error occurred while sending the request.",
            new IOException("The response ended prematurely.", new SocketException((int)SocketError.ConnectionReset)));

        ExceptionReason.Of(ex).ShouldBe(
            $"An error occurred while sending the request. (The response ended prematurely.) ({new SocketException((int)SocketError.ConnectionReset).Message})");
        ExceptionReason.Of(new InvalidOperationException("alone")).ShouldBe("alone");
        ExceptionReason.Of(new InvalidOperationException("outer: inner", new InvalidOperationException("inner"))).ShouldBe("outer: inner");
    }

    [Fact]
    public async Task An_unreachable_registry_is_logged_with_the_cause()
    {
        // A port that accepts and closes every connection without a word, as the registry's https port does with plain
        // http: HttpClient's own message is then the same as for any other failure.
        using var closer = new TcpListener(IPAddress.Loopback, 0);
        closer.Start();
        var port = ((IPEndPoint)closer.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var connection = await closer.AcceptTcpClientAsync(stop.Token);
            }
        });

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddFakeLogging();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mesh:Registry:Url"] = $"http://127.0.0.1:{port}",
            ["Mesh:Registry:Token"] = "join-token",
            ["Mesh:Registry:CacheDirectory"] = string.Empty,
            ["Mesh:Registry:Register"] = "false",
            ["Mesh:Security:Mode"] = "Disabled",
        });
        builder.Services.AddMeshClient();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            // Discovery starts with the first mesh handler.
            host.Services.GetRequiredService<MeshHandlerFactory>().CreateHandler().Dispose();
            var logs = host.Services.GetFakeLogCollector();
            await Poll.UntilAsync(
                () => logs.GetSnapshot().Any(r => r.Message.Contains("Mesh registry unreachable", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(30), "the watch logs the unreachable registry");
            var line = logs.GetSnapshot().First(r => r.Message.Contains("Mesh registry unreachable", StringComparison.Ordinal)).Message;
            line.ShouldContain("The response ended prematurely");
        }
        finally
        {
            await host.StopAsync();
            await stop.CancelAsync();
            try
            {
                await accepting; // ends either way: cancelled in its accept, or seeing the stop between two
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
