using System.Net;
using Mesh.Client.Internal;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// The mesh handler's gRPC semantics over a scripted transport on a manual clock: which failures are retried, the
/// trailers-only statuses the mesh answers itself, and the grpc-timeout it passes on.
/// </summary>
public sealed class GrpcHandlerTests
{
    private const string Method = "http://greeter/greet.Greeter/SayHello";

    private static Dictionary<string, string?> Policy(int attempts, params string[] retryOn)
    {
        var policy = new Dictionary<string, string?>
        {
            ["LoadBalancer:Policy"] = "RoundRobin",
            ["OutlierDetection:Consecutive5xxErrors"] = "0",
            ["CircuitBreaker:Enabled"] = "false",
            ["Routes:0:Name"] = "default",
            ["Routes:0:Retry:Attempts"] = attempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Routes:0:Retry:BaseDelay"] = "00:00:00",
            ["Routes:0:Retry:MaxDelay"] = "00:00:00",
        };
        for (var i = 0; i < retryOn.Length; i++)
        {
            policy[$"Routes:0:Retry:RetryOn:{i}"] = retryOn[i];
        }

        return policy;
    }

    /// <summary>A unary gRPC request body: one length-prefixed message, in memory.</summary>
    private static ByteArrayContent Unary()
    {
        var content = new ByteArrayContent([0, 0, 0, 0, 2, 0x0a, 0x00]);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        return content;
    }

    /// <summary>A client-stream body: read from a stream as the caller writes it, so it cannot be sent twice.</summary>
    private static StreamContent ClientStream()
    {
        var content = new StreamContent(new MemoryStream([0, 0, 0, 0, 0]));
        content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        return content;
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : null;

    [Theory]
    [InlineData("unavailable", 14)]
    [InlineData("cancelled", 1)]
    [InlineData("deadline-exceeded", 4)]
    [InlineData("resource-exhausted", 8)]
    [InlineData("internal", 13)]
    public async Task A_trailers_only_status_is_retried_on_another_endpoint_although_gRPC_posts(string condition, int status)
    {
        var backend = new ScriptedBackend(s => ScriptedBackend.AnswerGrpc(s.Number == 1 ? status : 0));
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1", "v1"], Policy(2, condition));

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, Unary());

        Header(response, MeshHeaders.GrpcStatus).ShouldBe("0");
        backend.Sent.Count.ShouldBe(2);
        backend.Sent[1].Endpoint.ShouldNotBe(backend.Sent[0].Endpoint);
        backend.Sent[1].Body.ShouldBe(backend.Sent[0].Body); // the retry carried the request message again
    }

    [Fact]
    public async Task A_status_the_route_does_not_retry_on_is_handed_back()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.AnswerGrpc(14));
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1", "v1"], Policy(2, "resource-exhausted"));

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, Unary());

        Header(response, MeshHeaders.GrpcStatus).ShouldBe("14");
        backend.Sent.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Headers_without_a_status_start_the_stream_and_are_never_retried()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.AnswerGrpc(null));
        var policy = Policy(2, "unavailable", "cancelled", "internal", "200");
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1", "v1"], policy);

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, Unary());

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        backend.Sent.Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_client_stream_that_cannot_be_replayed_is_not_retried()
    {
        var backend = new ScriptedBackend(s => ScriptedBackend.AnswerGrpc(s.Number == 1 ? 14 : 0));
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1", "v1"], Policy(2, "unavailable"));

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, ClientStream());

        Header(response, MeshHeaders.GrpcStatus).ShouldBe("14");
        backend.Sent.Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_transport_failure_before_the_headers_is_retried_as_unavailable()
    {
        var backend = new ScriptedBackend(s => s.Number == 1
            ? Task.FromException<HttpResponseMessage>(new HttpRequestException(HttpRequestError.ResponseEnded, "reset"))
            : ScriptedBackend.AnswerGrpc(0));
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1", "v1"], Policy(2, "unavailable"));

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, Unary());

        Header(response, MeshHeaders.GrpcStatus).ShouldBe("0");
        backend.Sent.Count.ShouldBe(2);
    }

    [Fact]
    public async Task A_plain_POST_is_still_not_retried_on_a_gRPC_condition()
    {
        var backend = new ScriptedBackend(s => ScriptedBackend.AnswerGrpc(s.Number == 1 ? 14 : 0));
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1", "v1"], Policy(2, "unavailable"));

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, new StringContent("{}"));

        Header(response, MeshHeaders.GrpcStatus).ShouldBe("14");
        backend.Sent.Count.ShouldBe(1);
    }

    [Fact]
    public async Task An_empty_subset_answers_unavailable_trailers_only_instead_of_throwing()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.AnswerGrpc(0));
        var policy = Policy(0);
        policy["Subsets:v9:version"] = "v9";
        policy["Routes:0:Destinations:0:Subset"] = "v9";
        policy["Routes:0:Destinations:0:Weight"] = "100";
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1"], policy);

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, Unary());

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/grpc");
        Header(response, MeshHeaders.GrpcStatus).ShouldBe("14");
        Header(response, MeshHeaders.GrpcMessage)!.ShouldContain("v9");
        Header(response, MeshHeaders.Fault).ShouldBe("no-healthy-upstream");
        (await response.Content.ReadAsByteArrayAsync()).ShouldBeEmpty();
        backend.Sent.ShouldBeEmpty();
    }

    [Fact]
    public async Task The_same_empty_subset_answers_plain_HTTP_with_a_503()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        var policy = Policy(0);
        policy["Subsets:v9:version"] = "v9";
        policy["Routes:0:Destinations:0:Subset"] = "v9";
        policy["Routes:0:Destinations:0:Weight"] = "100";
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1"], policy);

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, new StringContent("{}"));

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        Header(response, MeshHeaders.Fault).ShouldBe("no-healthy-upstream");
        backend.Sent.ShouldBeEmpty();
    }

    [Fact]
    public async Task A_route_timeout_answers_deadline_exceeded_trailers_only()
    {
        var backend = new ScriptedBackend(ScriptedBackend.HangAsync);
        var policy = Policy(0);
        policy["Routes:0:Timeout"] = "00:00:02";
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1"], policy);

        var call = mesh.SendAsync(HttpMethod.Post, Method, Unary());
        var sent = await backend.NextAsync();
        mesh.Time.Advance(TimeSpan.FromSeconds(2));
        using var response = await call;

        sent.Token.IsCancellationRequested.ShouldBeTrue(); // the upstream attempt was cancelled
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        Header(response, MeshHeaders.GrpcStatus).ShouldBe("4");
        Header(response, MeshHeaders.Fault).ShouldBe("timeout");
    }

    [Fact]
    public async Task The_route_timeout_ends_a_stream_that_outlives_it_with_deadline_exceeded_in_the_trailers()
    {
        var body = new EndlessStream([0, 0, 0, 0, 0]);
        var backend = new ScriptedBackend(_ =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(body) };
            response.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
            return Task.FromResult(response);
        });
        var policy = Policy(0);
        policy["Routes:0:Timeout"] = "00:00:02";
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1"], policy);

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, Unary());
        Header(response, MeshHeaders.GrpcStatus).ShouldBeNull(); // the stream is under way
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/grpc");
        await using var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[16];
        (await stream.ReadAsync(buffer)).ShouldBe(5);
        var next = stream.ReadAsync(buffer).AsTask();
        next.IsCompleted.ShouldBeFalse();
        mesh.Time.Advance(TimeSpan.FromSeconds(2));

        (await next).ShouldBe(0);
        response.TrailingHeaders.GetValues(MeshHeaders.GrpcStatus).ShouldBe(["4"]);
        body.IsDisposed.ShouldBeTrue(); // the upstream stream was aborted
    }

    [Fact]
    public async Task A_stream_that_ends_in_time_keeps_its_own_status_and_stops_the_deadline_timer()
    {
        var backend = new ScriptedBackend(_ =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([0, 0, 0, 0, 0]) };
            response.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
            response.TrailingHeaders.TryAddWithoutValidation(MeshHeaders.GrpcStatus, "0");
            return Task.FromResult(response);
        });
        var policy = Policy(0);
        policy["Routes:0:Timeout"] = "00:00:02";
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1"], policy);

        using var response = await mesh.SendAsync(HttpMethod.Post, Method, Unary());
        (await response.Content.ReadAsByteArrayAsync()).Length.ShouldBe(5);
        mesh.Time.ScheduledTimers.ShouldBe(0);
        mesh.Time.Advance(TimeSpan.FromSeconds(2));

        response.TrailingHeaders.GetValues(MeshHeaders.GrpcStatus).ShouldBe(["0"]);
    }

    [Theory]
    [InlineData(null, "2000m")] // the route's timeout
    [InlineData("500m", "500m")] // the caller's deadline, shorter
    [InlineData("1S", "1000m")]
    [InlineData("10S", "2000m")] // the caller's deadline, longer than the route's
    [InlineData("10X", "2000m")] // malformed: ignored
    public async Task The_next_hop_gets_the_smaller_budget_in_grpc_timeout_and_the_mesh_header(string? callerTimeout, string expected)
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.AnswerGrpc(0));
        var policy = Policy(0);
        policy["Routes:0:Timeout"] = "00:00:02";
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1"], policy);
        using var request = new HttpRequestMessage(HttpMethod.Post, Method) { Content = Unary() };
        if (callerTimeout is not null)
        {
            request.Headers.TryAddWithoutValidation(MeshHeaders.GrpcTimeout, callerTimeout);
        }

        using var response = await mesh.SendAsync(request);

        var sent = backend.Sent.Single();
        sent.GrpcTimeout.ShouldBe(expected);
        sent.TimeoutBudget.ShouldBe(expected.TrimEnd('m'));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("10S")]
    public async Task The_callers_grpc_timeout_is_put_back_so_a_resent_message_keeps_the_routes_deadline(string? callerTimeout)
    {
        MeshUnderTest? mesh = null;
        var backend = new ScriptedBackend(async s =>
        {
            switch (s.Number)
            {
                case 1:
                    await Task.Delay(TimeSpan.FromMilliseconds(500), mesh!.Time);
                    return await ScriptedBackend.AnswerGrpc(14);
                case 2:
                    return await ScriptedBackend.AnswerGrpc(0);
                default:
                    return await ScriptedBackend.HangAsync(s);
            }
        });
        var policy = Policy(1, "unavailable");
        policy["Routes:0:Timeout"] = "00:00:02";
        using var created = MeshUnderTest.Create(backend, "greeter", ["v1", "v1"], policy);
        mesh = created;
        using var request = new HttpRequestMessage(HttpMethod.Post, Method) { Content = Unary() };
        if (callerTimeout is not null)
        {
            request.Headers.TryAddWithoutValidation(MeshHeaders.GrpcTimeout, callerTimeout);
        }

        var first = mesh.SendAsync(request);
        await backend.NextAsync();
        mesh.Time.Advance(TimeSpan.FromMilliseconds(500));
        (await backend.NextAsync()).GrpcTimeout.ShouldBe("1500m"); // the retry hears what is left
        (await first).Dispose();

        request.Headers.TryGetValues(MeshHeaders.GrpcTimeout, out var left).ShouldBe(callerTimeout is not null);
        left?.Single().ShouldBe(callerTimeout);

        // Sent again, as a resilience handler above the mesh does: the route's 2 s bound it afresh, not the retry's
        // leftover 1500m taken for the caller's own deadline.
        var resent = mesh.SendAsync(request);
        (await backend.NextAsync()).GrpcTimeout.ShouldBe("2000m");
        mesh.Time.Advance(TimeSpan.FromSeconds(2));
        using var response = await resent;
        Header(response, MeshHeaders.GrpcStatus).ShouldBe("4");
    }

    [Fact]
    public async Task The_callers_grpc_timeout_alone_bounds_the_call()
    {
        var backend = new ScriptedBackend(ScriptedBackend.HangAsync);
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1"], Policy(0));
        using var request = new HttpRequestMessage(HttpMethod.Post, Method) { Content = Unary() };
        request.Headers.TryAddWithoutValidation(MeshHeaders.GrpcTimeout, "300m");

        var call = mesh.SendAsync(request);
        var sent = await backend.NextAsync();
        sent.GrpcTimeout.ShouldBe("300m");
        mesh.Time.Advance(TimeSpan.FromMilliseconds(300));
        using var response = await call;

        Header(response, MeshHeaders.GrpcStatus).ShouldBe("4");
    }

    [Fact]
    public async Task Plain_HTTP_gets_no_grpc_timeout()
    {
        var backend = new ScriptedBackend(_ => ScriptedBackend.Answer(200));
        var policy = Policy(0);
        policy["Routes:0:Timeout"] = "00:00:02";
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1"], policy);

        using var response = await mesh.GetAsync(Method);

        backend.Sent.Single().GrpcTimeout.ShouldBeNull();
        backend.Sent.Single().TimeoutBudget.ShouldBe("2000");
    }
}
