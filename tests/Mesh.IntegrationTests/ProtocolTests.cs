using System.Net;
using System.Net.WebSockets;
using System.Text;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Mesh.IntegrationTests;

/// <summary>
/// The mesh under protocols other than plain HTTP/1.1 request-response: gRPC over HTTP/2 cleartext (these tests speak
/// gRPC's wire shape themselves, to answer exact statuses; Grpc/ runs the real Grpc.Net.Client) and WebSockets through
/// the handler factory.
/// </summary>
public sealed class ProtocolTests
{
    [Fact]
    public async Task Grpc_unavailable_is_retried_over_http2_when_the_route_opts_in()
    {
        var calls = 0;
        await using var ratings = await TestBackend.StartAsync("ratings", async context =>
        {
            context.Request.Protocol.ShouldBe("HTTP/2");
            context.Response.ContentType = "application/grpc";
            if (Interlocked.Increment(ref calls) == 1)
            {
                // A trailers-only error: the status arrives in the headers of an empty response.
                context.Response.Headers["grpc-status"] = "14";
                return;
            }

            await context.Response.Body.WriteAsync(new byte[] { 0, 0, 0, 0, 0 });
            context.Response.AppendTrailer("grpc-status", "0");
        }, protocols: HttpProtocolsOption.Http2);

        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                ["ratings"] = new
                {
                    Endpoints = new[] { new { Address = ratings.Address } },
                    Routes = new[] { new { Retry = new { Attempts = 2, RetryOn = new[] { "unavailable" }, RetryNonIdempotent = true } } },
                },
            },
        });

        using var request = new HttpRequestMessage(HttpMethod.Post, "http://ratings/bookinfo.Ratings/Get")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        using var response = await mesh.Client.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.Contains("grpc-status").ShouldBeFalse("the retried call succeeded; its status is in the trailers");
        calls.ShouldBe(2);
    }

    [Fact]
    public async Task Grpc_calls_are_retried_on_a_trailers_only_status_without_opting_in_but_not_once_streaming()
    {
        await using var ratings = await TestBackend.StartAsync("ratings", async context =>
        {
            context.Response.ContentType = "application/grpc";
            if (context.Request.Headers["x-test-stream"].Count == 0)
            {
                context.Response.Headers["grpc-status"] = "14";
                return;
            }

            // Headers and a message first: the status can only follow in the trailers.
            await context.Response.Body.WriteAsync(new byte[] { 0, 0, 0, 0, 0 });
            context.Response.AppendTrailer("grpc-status", "14");
        }, protocols: HttpProtocolsOption.Http2);

        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                ["ratings"] = new
                {
                    Endpoints = new[] { new { Address = ratings.Address } },
                    Routes = new[] { new { Retry = new { Attempts = 2, RetryOn = new[] { "unavailable" } } } },
                },
            },
        });

        using var request = new HttpRequestMessage(HttpMethod.Post, "http://ratings/bookinfo.Ratings/Get")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        using var response = await mesh.Client.SendAsync(request);
        response.Headers.GetValues("grpc-status").ShouldBe(["14"]);
        ratings.Requests.ShouldBe(3, "a gRPC POST whose status came before any message is retried by the gRPC conditions alone");

        using var streaming = new HttpRequestMessage(HttpMethod.Post, "http://ratings/bookinfo.Ratings/Get")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
            Headers = { { "x-test-stream", "1" } },
        };
        streaming.Content.Headers.ContentType = new("application/grpc");
        using var streamed = await mesh.Client.SendAsync(streaming);
        await streamed.Content.ReadAsByteArrayAsync();
        streamed.TrailingHeaders.GetValues("grpc-status").ShouldBe(["14"]);
        ratings.Requests.ShouldBe(4, "a response that started streaming is the caller's: never retried");
    }

    [Fact]
    public async Task A_websocket_connects_through_the_handler_factory()
    {
        await using var echo = await TestBackend.StartAsync("echo",
            handler: async context =>
            {
                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[1024];
                var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
                await socket.SendAsync(buffer.AsMemory(0, received.Count), WebSocketMessageType.Text, true, CancellationToken.None);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
            },
            configure: app => app.UseWebSockets());

        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object> { ["echo"] = new { Endpoints = new[] { new { Address = echo.Address } } } },
        });
        var factory = mesh.GetService<MeshHandlerFactory>();
        using var invoker = new HttpMessageInvoker(factory.CreateHandler("websockets"));
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri("ws://echo/ws"), invoker, CancellationToken.None);
        await socket.SendAsync(Encoding.UTF8.GetBytes("hello mesh"), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[1024];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
        Encoding.UTF8.GetString(buffer, 0, result.Count).ShouldBe("hello mesh");
        echo.Requests.ShouldBe(1);
    }
}

public sealed class HostHeaderTests
{
    [Fact]
    public async Task The_backend_sees_the_service_name_as_host_unless_the_caller_set_one()
    {
        await using var reviews = await TestBackend.StartAsync("reviews", c => c.Response.WriteAsync(c.Request.Host.Value ?? string.Empty));
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object> { ["reviews"] = new { Endpoints = new[] { new { Address = reviews.Address } } } },
        });

        (await mesh.Client.GetStringAsync(new Uri("http://reviews/"))).ShouldBe("reviews");
        (await mesh.Client.GetStringAsync(new Uri("http://reviews:9080/"))).ShouldBe("reviews:9080");
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://reviews/");
        request.Headers.Host = "books.example";
        using var response = await mesh.Client.SendAsync(request);
        (await response.Content.ReadAsStringAsync()).ShouldBe("books.example");
        request.RequestUri.ShouldBe(new Uri("http://reviews/"), "the caller's URI is restored after the call");
    }
}

public sealed class RewrittenUriTests
{
    [Fact]
    public async Task Repeated_paths_reach_each_picked_endpoint_with_their_own_path_and_the_callers_uri_comes_back()
    {
        // The mesh keeps rewritten URIs per endpoint for repeated paths: every request, first or repeated, with or
        // without a query, whether its URI is new or reused by the caller, must reach the endpoint the balancer
        // picked with exactly its own path, and the caller's URI must be on the request afterwards.
        static Task Echo(HttpContext c) => c.Response.WriteAsync(c.Request.Path + c.Request.QueryString);
        await using var a = await TestBackend.StartAsync("a", Echo);
        await using var b = await TestBackend.StartAsync("b", Echo);
        await using var flaky = await TestBackend.StartAsync("flaky", c =>
        {
            c.Response.StatusCode = 503;
            return Echo(c);
        });
        await using var mesh = MeshTestClient.Create(new
        {
            Services = new Dictionary<string, object>
            {
                ["catalog"] = new
                {
                    Endpoints = new[] { new { Address = a.Address }, new { Address = b.Address }, new { Address = flaky.Address } },
                    LoadBalancer = new { Policy = "RoundRobin" },
                    Routes = new object[]
                    {
                        new { Name = "default", Retry = new { Attempts = 2, RetryOn = new[] { "5xx" }, BaseDelay = "00:00:00", MaxDelay = "00:00:00" } },
                    },
                    OutlierDetection = new { Consecutive5xxErrors = 0 },
                    CircuitBreaker = new { Enabled = false },
                    RetryBudget = new { RetryRatio = 10 }, // a third of the first attempts fail: every one is to be retried
                },
            },
        });

        var shared = new Uri("http://catalog/items/shared");
        string[] paths = ["/items/1", "/items/2?page=3", "/items/shared", "/items/1"];
        var served = new Dictionary<string, int>();
        for (var i = 0; i < 60; i++)
        {
            var path = paths[i % paths.Length];
            var uri = path == "/items/shared" ? shared : new Uri("http://catalog" + path);
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            using var response = await mesh.Client.SendAsync(request);

            response.StatusCode.ShouldBe(HttpStatusCode.OK, $"request {i}: a 503 from 'flaky' is retried on another endpoint");
            (await response.Content.ReadAsStringAsync()).ShouldBe(path, $"request {i}");
            request.RequestUri.ShouldBeSameAs(uri, $"request {i}: the caller's URI is restored");
            var backend = response.Headers.GetValues("x-backend").Single();
            served[backend] = served.GetValueOrDefault(backend) + 1;
        }

        served.Keys.OrderBy(k => k).ShouldBe(["a", "b"]);
        served["a"].ShouldBeGreaterThan(10);
        served["b"].ShouldBeGreaterThan(10);
        flaky.Requests.ShouldBeGreaterThan(10, "round robin kept sending first attempts and retries to 'flaky' too");
        var attempts = a.AllRequestHeaders.Count + b.AllRequestHeaders.Count + flaky.AllRequestHeaders.Count;
        attempts.ShouldBe(60 + flaky.Requests, "every 503 from 'flaky' was retried once, on a healthy endpoint");
    }
}
