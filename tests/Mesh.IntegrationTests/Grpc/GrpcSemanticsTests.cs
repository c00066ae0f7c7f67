using Grpc.Core;
using Grpc.Net.Client;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests.Grpc;

/// <summary>
/// Envoy's gRPC semantics in the mesh, seen by the real Grpc.Net.Client against real Grpc.AspNetCore servers: retries
/// only before a response stream starts, the statuses the mesh answers itself, and deadlines across hops.
/// </summary>
public sealed class GrpcSemanticsTests
{
    /// <summary>A hang fails a test, it does not pace it.</summary>
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(30);

    private static Greeter.GreeterClient Client(MeshTestClient app, out GrpcChannel channel)
    {
        channel = GrpcChannel.ForAddress("http://greeter", new GrpcChannelOptions { HttpHandler = app.GetService<MeshHandlerFactory>().CreateHandler() });
        return new Greeter.GreeterClient(channel);
    }

    /// <summary>The service <c>greeter</c> on <paramref name="endpoints"/>, round robin, with <paramref name="route"/> as its one route.</summary>
    private static object Mesh(object route, params Uri[] endpoints) => new
    {
        Services = new Dictionary<string, object>
        {
            ["greeter"] = new
            {
                Endpoints = endpoints.Select(e => new { Address = e.ToString(), Labels = new { version = "v1" } }).ToArray(),
                LoadBalancer = new { Policy = "RoundRobin" },
                OutlierDetection = new { Consecutive5xxErrors = 0 },
                Subsets = new { v1 = new { version = "v1" }, v9 = new { version = "v9" } },
                Routes = new[] { route },
            },
        },
    };

    private static object RetryOnUnavailable => new { Name = "default", Retry = new { Attempts = 2, RetryOn = new[] { "unavailable" } } };

    [Fact]
    public async Task A_unary_call_answered_unavailable_trailers_only_is_retried_on_the_other_endpoint()
    {
        await using var failing = await GreeterBackend.StartAsync("greeter-failing");
        failing.FailWith = StatusCode.Unavailable;
        await using var healthy = await GreeterBackend.StartAsync("greeter-healthy");
        await using var app = MeshTestClient.Create(Mesh(RetryOnUnavailable, failing.Address, healthy.Address));
        var greeter = Client(app, out var channel);
        using var _ = channel;

        // Round robin sends the first attempt of one of the first two calls to the failing endpoint.
        for (var i = 0; i < 2; i++)
        {
            var reply = await greeter.SayHelloAsync(new HelloRequest { Name = "retried" }, deadline: DateTime.UtcNow + Hang);
            reply.Message.ShouldBe("Hello retried"); // the retry carried the request message again
            reply.ServedBy.ShouldBe("greeter-healthy");
        }

        failing.Calls.ShouldBeGreaterThan(0);
        healthy.Calls.ShouldBe(2);
    }

    [Fact]
    public async Task A_server_stream_that_fails_after_a_reply_is_not_retried()
    {
        await using var one = await GreeterBackend.StartAsync("greeter-1");
        await using var two = await GreeterBackend.StartAsync("greeter-2");
        one.FailWith = StatusCode.Unavailable;
        two.FailWith = StatusCode.Unavailable;
        await using var app = MeshTestClient.Create(Mesh(RetryOnUnavailable, one.Address, two.Address));
        var greeter = Client(app, out var channel);
        using var _ = channel;
        using var hang = new CancellationTokenSource(Hang);

        using var call = greeter.StreamHellos(new HelloRequest { Name = "stream", Count = 3 }, cancellationToken: hang.Token);

        (await call.ResponseStream.MoveNext(hang.Token)).ShouldBeTrue();
        call.ResponseStream.Current.Sequence.ShouldBe(1);
        var failure = await Should.ThrowAsync<RpcException>(() => call.ResponseStream.MoveNext(hang.Token));
        failure.StatusCode.ShouldBe(StatusCode.Unavailable);
        (one.Calls + two.Calls).ShouldBe(1);
    }

    [Fact]
    public async Task A_call_to_an_empty_subset_fails_unavailable_with_the_reason()
    {
        await using var backend = await GreeterBackend.StartAsync("greeter-1");
        var route = new { Name = "default", Destinations = new[] { new { Subset = "v9", Weight = 100 } } };
        await using var app = MeshTestClient.Create(Mesh(route, backend.Address));
        var greeter = Client(app, out var channel);
        using var _ = channel;

        var failure = await Should.ThrowAsync<RpcException>(() =>
            greeter.SayHelloAsync(new HelloRequest { Name = "nowhere" }, deadline: DateTime.UtcNow + Hang).ResponseAsync);

        failure.StatusCode.ShouldBe(StatusCode.Unavailable);
        failure.Status.Detail.ShouldContain("v9");
        failure.Trailers.GetValue("x-mesh-fault").ShouldBe("no-healthy-upstream");
        backend.Calls.ShouldBe(0);
    }

    [Fact]
    public async Task A_route_timeout_fails_a_unary_call_with_deadline_exceeded()
    {
        await using var backend = await GreeterBackend.StartAsync("greeter-1");
        backend.HoldUnary = true;
        var time = new ManualTimeProvider();
        var route = new { Name = "default", Timeout = "00:00:02", Retry = new { Attempts = 0 } };
        await using var app = MeshTestClient.Create(Mesh(route, backend.Address), timeProvider: time);
        var greeter = Client(app, out var channel);
        using var _ = channel;
        using var hang = new CancellationTokenSource(Hang);

        using var call = greeter.SayHelloAsync(new HelloRequest { Name = "slow" }, cancellationToken: hang.Token);
        await Poll.UntilAsync(() => backend.Calls == 1, because: "the call reached the server");
        time.Advance(TimeSpan.FromSeconds(2));

        var failure = await Should.ThrowAsync<RpcException>(() => call.ResponseAsync);
        failure.StatusCode.ShouldBe(StatusCode.DeadlineExceeded);
    }

    [Fact]
    public async Task A_route_timeout_ends_a_server_stream_that_outlives_it_with_deadline_exceeded()
    {
        await using var backend = await GreeterBackend.StartAsync("greeter-1");
        var time = new ManualTimeProvider();
        var route = new { Name = "default", Timeout = "00:00:02", Retry = new { Attempts = 0 } };
        await using var app = MeshTestClient.Create(Mesh(route, backend.Address), timeProvider: time);
        var greeter = Client(app, out var channel);
        using var _ = channel;
        using var hang = new CancellationTokenSource(Hang);

        using var call = greeter.StreamHellos(new HelloRequest { Name = "stream", Count = 3 }, cancellationToken: hang.Token);
        (await call.ResponseStream.MoveNext(hang.Token)).ShouldBeTrue(); // the stream is under way: headers came long ago
        var next = call.ResponseStream.MoveNext(hang.Token); // the server holds reply 2 until allowed, which it never is
        time.Advance(TimeSpan.FromSeconds(2));

        var failure = await Should.ThrowAsync<RpcException>(() => next);
        failure.StatusCode.ShouldBe(StatusCode.DeadlineExceeded);
        backend.Streamed.ShouldBe(1);
    }

    [Fact]
    public async Task The_callers_deadline_travels_through_a_meshed_server_to_the_next_service()
    {
        await using var b = await GreeterBackend.StartAsync("service-b");
        await using var a = await GreeterBackend.StartAsync("service-a",
            configureServices: services => services.AddMesh(o =>
            {
                o.Service.Name = "service-a";
                o.Services["service-b"] = new ServicePolicyOptions { Endpoints = { new EndpointOptions { Address = b.Address } } };
            }),
            configure: app => app.UseMesh());
        await using var app = MeshTestClient.Create(GrpcThroughMeshTests.Mesh(a.Address));
        var greeter = Client(app, out var channel);
        using var _ = channel;
        // Deadlines travel as time left, measured by each hop from when it got the call (so clocks need not agree):
        // what B had left is compared with what the caller gave, which the caller's gRPC client wrote after this.
        var budget = TimeSpan.FromMinutes(5);
        var deadline = DateTime.UtcNow + budget;

        var reply = await greeter.ReportDeadlineAsync(new DeadlineRequest { RelayTo = "service-b" }, deadline: deadline);

        reply.ServedBy.ShouldBe("service-b");
        reply.HasRemainingTicks.ShouldBeTrue("service B saw a deadline although only the first caller set one");
        TimeSpan.FromTicks(reply.RemainingTicks).ShouldBeLessThanOrEqualTo(budget);
        a.Calls.ShouldBe(1);
        b.Calls.ShouldBe(1);
    }

    [Fact]
    public async Task Without_a_deadline_anywhere_the_next_service_sees_none()
    {
        await using var b = await GreeterBackend.StartAsync("service-b");
        await using var a = await GreeterBackend.StartAsync("service-a",
            configureServices: services => services.AddMesh(o =>
            {
                o.Service.Name = "service-a";
                o.Services["service-b"] = new ServicePolicyOptions { Endpoints = { new EndpointOptions { Address = b.Address } } };
            }),
            configure: app => app.UseMesh());
        await using var app = MeshTestClient.Create(GrpcThroughMeshTests.Mesh(a.Address));
        var greeter = Client(app, out var channel);
        using var _ = channel;

        var reply = await greeter.ReportDeadlineAsync(new DeadlineRequest { RelayTo = "service-b" });

        reply.ServedBy.ShouldBe("service-b");
        reply.HasRemainingTicks.ShouldBeFalse();
    }
}
