using Grpc.Net.Client;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests.Grpc;

/// <summary>
/// gRPC through the mesh over its mTLS in Strict mode: client and servers hold workload certificates from a test CA,
/// the servers serve only mesh TLS, and the channel still names the logical service over <c>http://</c>.
/// </summary>
public sealed class GrpcMeshTlsTests : IDisposable
{
    private readonly TestCertificateAuthority _ca = new();

    public void Dispose() => _ca.Dispose();

    [Theory]
    [InlineData("CreateHandler")]
    [InlineData("AddGrpcClient")]
    public async Task Calls_run_over_mesh_mTLS_in_Strict_mode_and_are_balanced_by_the_mesh(string wiring)
    {
        await using var one = await StartStrictAsync("greeter-1");
        await using var two = await StartStrictAsync("greeter-2");
        await using var app = MeshTestClient.Create(
            new
            {
                Service = new { Name = "frontend" },
                Security = new { Mode = "Strict" },
                Services = new Dictionary<string, object>
                {
                    ["greeter"] = new
                    {
                        Endpoints = new[] { new { Address = one.HttpsAddress.ToString() }, new { Address = two.HttpsAddress.ToString() } },
                        LoadBalancer = new { Policy = "RoundRobin" },
                    },
                },
            },
            configure: services =>
            {
                services.AddTestCertificateAuthority(_ca, "frontend");
                if (wiring == "AddGrpcClient")
                {
                    services.AddGrpcClient<Greeter.GreeterClient>(o => o.Address = new Uri("http://greeter")).AddServiceMesh();
                }
            });

        using var channel = wiring == "CreateHandler"
            ? GrpcChannel.ForAddress("http://greeter", new GrpcChannelOptions { HttpHandler = app.GetService<MeshHandlerFactory>().CreateHandler() })
            : null;
        var greeter = channel is null ? app.GetService<Greeter.GreeterClient>() : new Greeter.GreeterClient(channel);

        var reply = await greeter.SayHelloAsync(new HelloRequest { Name = "mtls" });

        reply.Caller.ShouldBe("spiffe://mesh.local/svc/frontend", "the server authenticated the caller by its mesh certificate");
        await GrpcThroughMeshTests.AssertBalancedAsync(greeter, reply, one, two);
    }

    private Task<GreeterBackend> StartStrictAsync(string name) => GreeterBackend.StartAsync(name,
        configureServices: services =>
        {
            services.AddMesh(o =>
            {
                o.Service.Name = "greeter";
                o.Security.Mode = MeshSecurityMode.Strict;
            });
            services.AddTestCertificateAuthority(_ca, "greeter");
        },
        configure: app => app.UseMesh());
}
