using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.IntegrationTests.Grpc;

/// <summary>
/// The gRPC status of a real call through the mesh, as the client's metrics and span and the server's metrics see it.
/// Grpc.AspNetCore writes the status of every normal response (success, or an error after the headers) as a trailer,
/// so it is known only once the body has been read on the client and once the call has finished on the server.
/// </summary>
public sealed class GrpcTelemetryTests
{
    private const string MeshMeter = "Mesh.Client";

    [Theory]
    [InlineData(StatusCode.OK)]
    [InlineData(StatusCode.NotFound)]
    public async Task The_status_from_the_trailers_is_the_grpc_status_label_on_both_sides_and_on_the_span(StatusCode status)
    {
        var service = "greeter-" + Guid.NewGuid().ToString("N")[..8];
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MeshMeter,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var backend = await GreeterBackend.StartAsync("greeter-1",
            configureServices: services => services.AddMesh(o => o.Service.Name = service),
            configure: app => app.UseMesh());
        await using var app = MeshTestClient.Create(new
        {
            Service = new { Name = "frontend" },
            Services = new Dictionary<string, object>
            {
                [service] = new { Endpoints = new[] { new { Address = backend.Address.ToString() } } },
            },
        });
        using var clientRequests = new MetricCollector<long>(app.GetService<IMeterFactory>(), MeshMeter, "mesh.requests");
        using var serverRequests = new MetricCollector<long>(backend.Services.GetRequiredService<IMeterFactory>(), MeshMeter, "mesh.requests");
        using var channel = GrpcChannel.ForAddress($"http://{service}",
            new GrpcChannelOptions { HttpHandler = app.GetService<MeshHandlerFactory>().CreateHandler() });
        var greeter = new Greeter.GreeterClient(channel);

        var method = status == StatusCode.OK ? "SayHello" : "SayHelloThenFail";
        if (status == StatusCode.OK)
        {
            (await greeter.SayHelloAsync(new HelloRequest { Name = "mesh" })).Message.ShouldBe("Hello mesh");
        }
        else
        {
            using var call = greeter.SayHelloThenFailAsync(new HelloRequest { Count = (int)status });
            (await call.ResponseHeadersAsync).GetValue(GreeterService.HeadersFirst).ShouldBe("yes", "the headers came before the status");
            (await Should.ThrowAsync<RpcException>(async () => await call.ResponseAsync)).StatusCode.ShouldBe(status);
        }

        var code = ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var client = clientRequests.GetMeasurementSnapshot().ShouldHaveSingleItem();
        client.Tags["reporter"].ShouldBe("source");
        client.Tags["grpc_status"].ShouldBe(code);
        client.Tags["response_code"].ShouldBe("200");

        // The server records once its pipeline has returned, which may be just after the client read the trailers.
        await Poll.UntilAsync(() => serverRequests.GetMeasurementSnapshot().Count > 0, because: "the server records the call");
        var server = serverRequests.GetMeasurementSnapshot().ShouldHaveSingleItem();
        server.Tags["reporter"].ShouldBe("destination");
        server.Tags["grpc_status"].ShouldBe(code);
        server.Tags["route"].ShouldBe($"/greet.Greeter/{method}");

        var span = stopped.Where(a => a.OperationName == service).ShouldHaveSingleItem();
        span.GetTagItem("rpc.system").ShouldBe("grpc");
        span.GetTagItem("rpc.service").ShouldBe("greet.Greeter");
        span.GetTagItem("rpc.method").ShouldBe(method);
        span.GetTagItem("rpc.grpc.status_code").ShouldBe((int)status);
        span.GetTagItem("http.response.status_code").ShouldBe(200);
        span.Status.ShouldBe(status == StatusCode.OK ? ActivityStatusCode.Unset : ActivityStatusCode.Error);
    }
}
