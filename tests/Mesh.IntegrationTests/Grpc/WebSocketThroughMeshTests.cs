using System.Net.WebSockets;
using System.Text;
using Mesh.AspNetCore.Security;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests.Grpc;

/// <summary>
/// <c>ClientWebSocket</c> over <c>new HttpMessageInvoker(mesh.CreateHandler())</c> to a meshed service: the upgrade is
/// routed to a mesh endpoint like any request, in plaintext and over the mesh's mTLS in Strict mode (HTTP/1.1 upgrade
/// on the TLS connection the mesh opens to an <c>https</c> endpoint).
/// </summary>
public sealed class WebSocketThroughMeshTests : IDisposable
{
    private readonly TestCertificateAuthority _ca = new();

    public void Dispose() => _ca.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_websocket_to_the_logical_name_reaches_each_mesh_endpoint_in_turn(bool strict)
    {
        await using var one = await StartEchoAsync("echo-1", strict);
        await using var two = await StartEchoAsync("echo-2", strict);
        await using var app = MeshTestClient.Create(
            new
            {
                Service = new { Name = "frontend" },
                Security = new { Mode = strict ? "Strict" : "Disabled" },
                Services = new Dictionary<string, object>
                {
                    ["echo"] = new
                    {
                        Endpoints = new[] { new { Address = Address(one, strict) }, new { Address = Address(two, strict) } },
                        LoadBalancer = new { Policy = "RoundRobin" },
                    },
                },
            },
            configure: services =>
            {
                if (strict)
                {
                    services.AddTestCertificateAuthority(_ca, "frontend");
                }
            });
        var mesh = app.GetService<MeshHandlerFactory>();
        using var invoker = new HttpMessageInvoker(mesh.CreateHandler("websockets"));

        var echoes = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var socket = new ClientWebSocket();
            await socket.ConnectAsync(new Uri("ws://echo/echo"), invoker, CancellationToken.None);
            await socket.SendAsync(Encoding.UTF8.GetBytes("hello " + i), WebSocketMessageType.Text, true, CancellationToken.None);
            var buffer = new byte[1024];
            var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
            echoes.Add(Encoding.UTF8.GetString(buffer, 0, received.Count));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }

        var caller = strict ? "spiffe://mesh.local/svc/frontend" : "-";
        echoes[0].ShouldEndWith($" {caller}: hello 0");
        echoes[1].ShouldEndWith($" {caller}: hello 1");
        echoes.Select(e => e.Split(' ')[0]).ShouldBe(["echo-1", "echo-2"], ignoreOrder: true, "round robin: one connection each");
        one.Requests.ShouldBe(1);
        two.Requests.ShouldBe(1);
    }

    private static string Address(TestBackend backend, bool strict) =>
        strict ? $"https://127.0.0.1:{backend.Address.Port}" : backend.Address.ToString();

    private Task<TestBackend> StartEchoAsync(string name, bool strict) => TestBackend.StartAsync(name,
        handler: async context =>
        {
            if (context.Request.Path != "/echo" || !context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            var caller = context.User.FindFirst(MeshClaims.SpiffeId)?.Value ?? "-";
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
            var echo = Encoding.UTF8.GetBytes($"{name} {caller}: " + Encoding.UTF8.GetString(buffer, 0, received.Count));
            await socket.SendAsync(echo, WebSocketMessageType.Text, true, CancellationToken.None);
            var close = await socket.ReceiveAsync(buffer, CancellationToken.None);
            close.MessageType.ShouldBe(WebSocketMessageType.Close);
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        },
        services: services =>
        {
            if (strict)
            {
                services.AddMesh(o =>
                {
                    o.Service.Name = "echo";
                    o.Security.Mode = MeshSecurityMode.Strict;
                });
                services.AddTestCertificateAuthority(_ca, "echo");
            }
        },
        configure: app =>
        {
            if (strict)
            {
                app.UseMesh();
            }

            app.UseWebSockets();
        });
}
