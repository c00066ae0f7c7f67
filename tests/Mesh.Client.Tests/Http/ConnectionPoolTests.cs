using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Client.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// A service's <c>ConnectionPool</c> limits over a scripted transport on a manual clock: a slot per call, a bounded
/// queue, an immediate 503 <c>overflow</c> beyond both, and a slot given back however the call ends.
/// </summary>
public sealed class ConnectionPoolTests
{
    private const string Items = "http://reviews/items";

    private static Dictionary<string, string?> Pool(int maxRequests, int? maxPending = null, string? timeout = null)
    {
        var policy = new Dictionary<string, string?>
        {
            ["Routes:0:Name"] = "default",
            ["Routes:0:Retry:Attempts"] = "0",
            ["OutlierDetection:Consecutive5xxErrors"] = "0",
            ["CircuitBreaker:Enabled"] = "false",
            ["ConnectionPool:MaxRequests"] = maxRequests.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (maxPending is { } pending)
        {
            policy["ConnectionPool:MaxPendingRequests"] = pending.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (timeout is not null)
        {
            policy["Routes:0:Timeout"] = timeout;
        }

        return policy;
    }

    /// <summary>A backend whose first request waits for <paramref name="release"/>; the others answer 200 at once.</summary>
    private static ScriptedBackend HoldFirst(TaskCompletionSource release) => new(async s =>
    {
        if (s.Number == 1)
        {
            await release.Task.WaitAsync(s.Token);
        }

        return new HttpResponseMessage(HttpStatusCode.OK);
    });

    private static MetricCollector<long> Collect(MeshUnderTest mesh, string instrument) =>
        new(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh.Client", instrument);

    [Fact]
    public async Task Beyond_MaxRequests_a_call_is_answered_503_overflow_at_once_and_unsent()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = HoldFirst(release);
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], Pool(1));
        using var overflows = Collect(mesh, "mesh.overflow");
        using var requests = Collect(mesh, "mesh.requests");

        var first = mesh.GetAsync(Items);
        await backend.NextAsync();
        using (var overflowed = await mesh.GetAsync(Items))
        {
            overflowed.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            overflowed.Headers.GetValues("x-mesh-fault").ShouldBe(["overflow"]);
            (await overflowed.Content.ReadAsStringAsync()).ShouldContain("ConnectionPool");
        }

        backend.Sent.Count.ShouldBe(1);
        overflows.GetMeasurementSnapshot().ShouldHaveSingleItem().Tags["destination_service"].ShouldBe("reviews");
        requests.GetMeasurementSnapshot().ShouldHaveSingleItem().Tags["response_code"].ShouldBe("503");

        // The slot comes back with the first call's response: the next call goes through.
        release.SetResult();
        using (var response = await first)
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        using (var response = await mesh.GetAsync(Items))
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        backend.Sent.Count.ShouldBe(2);
        overflows.GetMeasurementSnapshot().Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_gRPC_call_beyond_the_limits_gets_a_trailers_only_UNAVAILABLE()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = HoldFirst(release);
        using var mesh = MeshUnderTest.Create(backend, "greeter", ["v1"], Pool(1));

        var first = mesh.GetAsync("http://greeter/items");
        await backend.NextAsync();
        var grpc = new ByteArrayContent([0, 0, 0, 0, 0]);
        grpc.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        using var response = await mesh.SendAsync(HttpMethod.Post, "http://greeter/greet.Greeter/SayHello", grpc);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.GetValues(MeshHeaders.GrpcStatus).ShouldBe(["14"]);
        response.Headers.GetValues(MeshHeaders.Fault).ShouldBe(["overflow"]);
        release.SetResult();
        (await first).Dispose();
    }

    [Fact]
    public async Task A_waiting_call_gives_up_at_its_deadline_unsent()
    {
        // The call holding the slot has the longer deadline, so the slot is still taken when the waiting call's runs out.
        var backend = new ScriptedBackend(ScriptedBackend.HangAsync);
        var policy = Pool(1, maxPending: 1, timeout: "00:00:01");
        policy["Routes:0:Name"] = "holder";
        policy["Routes:0:Match:Headers:x-hold"] = "yes";
        policy["Routes:0:Timeout"] = "00:00:10";
        policy["Routes:1:Name"] = "default";
        policy["Routes:1:Retry:Attempts"] = "0";
        policy["Routes:1:Timeout"] = "00:00:01";
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);

        using var holding = new HttpRequestMessage(HttpMethod.Get, Items);
        holding.Headers.Add("x-hold", "yes");
        var first = mesh.SendAsync(holding);
        await backend.NextAsync();
        var waiting = mesh.GetAsync(Items);
        waiting.IsCompleted.ShouldBeFalse();
        mesh.Time.Advance(TimeSpan.FromSeconds(1));

        (await TimeoutOf(waiting)).ShouldBeTrue();
        first.IsCompleted.ShouldBeFalse();
        backend.Sent.Count.ShouldBe(1);
        mesh.Time.Advance(TimeSpan.FromSeconds(9));
        (await TimeoutOf(first)).ShouldBeTrue();
    }

    [Fact]
    public async Task A_waiting_call_whose_caller_cancels_frees_its_place_in_the_queue()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = HoldFirst(release);
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], Pool(1, maxPending: 1));
        using var overflows = Collect(mesh, "mesh.overflow");
        using var caller = new CancellationTokenSource();

        var first = mesh.GetAsync(Items);
        await backend.NextAsync();
        var cancelled = mesh.GetAsync(Items, caller.Token);
        await caller.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(cancelled);

        // Its place is free: the next call waits instead of overflowing, and gets the slot the first call gives back.
        var next = mesh.GetAsync(Items);
        next.IsCompleted.ShouldBeFalse();
        release.SetResult();
        (await first).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await next).StatusCode.ShouldBe(HttpStatusCode.OK);
        overflows.GetMeasurementSnapshot().ShouldBeEmpty();
        backend.Sent.Count.ShouldBe(2);
    }

    [Fact]
    public async Task A_call_that_fails_gives_its_slot_back()
    {
        var backend = new ScriptedBackend(s => s.Number == 1
            ? throw new HttpRequestException(HttpRequestError.ConnectionError, "refused")
            : ScriptedBackend.Answer(200));
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], Pool(1));

        await Should.ThrowAsync<HttpRequestException>(() => mesh.GetAsync(Items));
        using var response = await mesh.GetAsync(Items);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    /// <summary>Whether <paramref name="call"/> ended as the mesh's own timeout (caught by hand: see MeshHandlerTests).</summary>
    private static async Task<bool> TimeoutOf(Task<HttpResponseMessage> call)
    {
        try
        {
            (await call).Dispose();
            return false;
        }
        catch (TaskCanceledException ex)
        {
            return ex.InnerException is TimeoutException;
        }
    }
}
