using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests.Grpc;

/// <summary>
/// The real Grpc.Net.Client through the mesh to real Grpc.AspNetCore servers, wired each way the README offers. gRPC
/// must not balance by itself: the channel's address is the logical service name, which only the mesh resolves.
/// </summary>
public sealed class GrpcThroughMeshTests
{
    private const int Calls = 10;

    // docs/grpc.md's example is the region below, word for word (ReadmeGrpcExampleTests keeps them equal).
    [Fact]
    public async Task The_readme_recipe_calls_through_the_mesh_which_balances_across_both_endpoints()
    {
        await using var one = await GreeterBackend.StartAsync("greeter-1");
        await using var two = await GreeterBackend.StartAsync("greeter-2");
        await using var app = MeshTestClient.Create(Mesh(one.Address, two.Address));

        #region readme-grpc
        var mesh = app.Services.GetRequiredService<MeshHandlerFactory>();
        using var channel = GrpcChannel.ForAddress("http://greeter", new GrpcChannelOptions { HttpHandler = mesh.CreateHandler() });
        var greeter = new Greeter.GreeterClient(channel);
        var reply = await greeter.SayHelloAsync(new HelloRequest { Name = "mesh" });
        #endregion

        reply.Message.ShouldBe("Hello mesh");
        await AssertBalancedAsync(greeter, reply, one, two);
    }

    [Fact]
    public async Task A_channel_over_an_HttpClient_of_the_mesh_handler_is_balanced_by_the_mesh()
    {
        await using var one = await GreeterBackend.StartAsync("greeter-1");
        await using var two = await GreeterBackend.StartAsync("greeter-2");
        await using var app = MeshTestClient.Create(Mesh(one.Address, two.Address));
        var mesh = app.GetService<MeshHandlerFactory>();

        using var http = new HttpClient(mesh.CreateHandler());
        using var channel = GrpcChannel.ForAddress("http://greeter", new GrpcChannelOptions { HttpClient = http });
        var greeter = new Greeter.GreeterClient(channel);

        await AssertBalancedAsync(greeter, await greeter.SayHelloAsync(new HelloRequest { Name = "mesh" }), one, two);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_client_factory_gRPC_client_with_AddServiceMesh_is_balanced_by_the_mesh(bool appPrimaryHandler)
    {
        await using var one = await GreeterBackend.StartAsync("greeter-1");
        await using var two = await GreeterBackend.StartAsync("greeter-2");
        await using var app = MeshTestClient.Create(Mesh(one.Address, two.Address), configure: services =>
        {
            var client = services.AddGrpcClient<Greeter.GreeterClient>(o => o.Address = new Uri("http://greeter")).AddServiceMesh();
            if (appPrimaryHandler)
            {
                // The app's own transport, configured after the mesh: the mesh still balances over it.
                client.ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { EnableMultipleHttp2Connections = true });
            }
        });

        var greeter = app.GetService<Greeter.GreeterClient>();

        await AssertBalancedAsync(greeter, await greeter.SayHelloAsync(new HelloRequest { Name = "mesh" }), one, two);
    }

    [Fact]
    public async Task A_server_stream_arrives_message_by_message_through_the_mesh()
    {
        await using var backend = await GreeterBackend.StartAsync("greeter-1");
        await using var app = MeshTestClient.Create(Mesh(backend.Address));
        var mesh = app.GetService<MeshHandlerFactory>();
        using var channel = GrpcChannel.ForAddress("http://greeter", new GrpcChannelOptions { HttpHandler = mesh.CreateHandler() });
        var greeter = new Greeter.GreeterClient(channel);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a hang fails the test, it does not pace it

        using var call = greeter.StreamHellos(new HelloRequest { Name = "stream", Count = 3 }, cancellationToken: deadline.Token);
        for (var sequence = 1; sequence <= 3; sequence++)
        {
            (await call.ResponseStream.MoveNext(deadline.Token)).ShouldBeTrue($"reply {sequence} arrives");
            call.ResponseStream.Current.Sequence.ShouldBe(sequence);
            call.ResponseStream.Current.ServedBy.ShouldBe("greeter-1");

            // The server writes reply n+1 only when allowed: reply n was delivered on its own.
            backend.Streamed.ShouldBe(sequence);
            backend.AllowNextReply();
        }

        (await call.ResponseStream.MoveNext(deadline.Token)).ShouldBeFalse();
        call.GetStatus().StatusCode.ShouldBe(StatusCode.OK);
    }

    /// <summary>Ten calls in all (<paramref name="first"/> included): round robin gives each endpoint half of them.</summary>
    internal static async Task AssertBalancedAsync(Greeter.GreeterClient greeter, HelloReply first, GreeterBackend one, GreeterBackend two)
    {
        var served = new List<string> { first.ServedBy };
        for (var i = 1; i < Calls; i++)
        {
            served.Add((await greeter.SayHelloAsync(new HelloRequest { Name = "mesh" })).ServedBy);
        }

        served.Count(s => s == one.Name).ShouldBe(Calls / 2, string.Join(",", served));
        served.Count(s => s == two.Name).ShouldBe(Calls / 2, string.Join(",", served));
        one.Calls.ShouldBe(Calls / 2);
        two.Calls.ShouldBe(Calls / 2);
    }

    /// <summary>The mesh configuration: the service <c>greeter</c> on the given endpoints, round robin.</summary>
    internal static object Mesh(params Uri[] endpoints) => new
    {
        Services = new Dictionary<string, object>
        {
            ["greeter"] = new
            {
                Endpoints = endpoints.Select(e => new { Address = e.ToString() }).ToArray(),
                LoadBalancer = new { Policy = "RoundRobin" },
            },
        },
    };
}
