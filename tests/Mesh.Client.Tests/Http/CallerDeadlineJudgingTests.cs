using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Client.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Client.Tests.Http;

/// <summary>
/// A deadline the caller chose (the inbound request's <c>x-mesh-timeout-ms</c> or <c>grpc-timeout</c>, or the
/// <c>grpc-timeout</c> on the outgoing request) ending an attempt says nothing about the endpoint: anyone who can send
/// the service a request with a tiny budget would otherwise open the breakers and eject the endpoints every other
/// caller of the service depends on. Only the route's own timeouts judge an endpoint too slow.
/// </summary>
public sealed class CallerDeadlineJudgingTests
{
    private const string Items = "http://reviews/items";

    [Fact]
    public async Task An_inbound_deadline_running_out_mid_attempt_does_not_open_the_breaker()
    {
        var backend = new ScriptedBackend(s => s.Number <= 2 ? ScriptedBackend.HangAsync(s) : ScriptedBackend.Answer(200));
        var policy = new Dictionary<string, string?>
        {
            ["Routes:0:Name"] = "default",
            ["Routes:0:Retry:Attempts"] = "0",
            ["OutlierDetection:Consecutive5xxErrors"] = "0",
            ["CircuitBreaker:FailureRatio"] = "0.5",
            ["CircuitBreaker:MinimumThroughput"] = "2",
        };
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);

        for (var i = 0; i < 2; i++)
        {
            var failure = await CallWithInboundBudgetAsync(mesh, backend);
            failure.InnerException.ShouldBeOfType<TimeoutException>();
        }

        using var next = await mesh.GetAsync(Items);
        next.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task An_inbound_deadline_running_out_mid_attempt_does_not_eject_the_endpoint()
    {
        var backend = new ScriptedBackend(s => s.Number <= 2 ? ScriptedBackend.HangAsync(s) : ScriptedBackend.Answer(200));
        var policy = new Dictionary<string, string?>
        {
            ["Routes:0:Name"] = "default",
            ["Routes:0:Retry:Attempts"] = "0",
            ["OutlierDetection:Consecutive5xxErrors"] = "2",
            ["CircuitBreaker:Enabled"] = "false",
        };
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);
        using var ejections = new MetricCollector<long>(mesh.Services.GetRequiredService<IMeterFactory>(), "Mesh.Client", "mesh.outlier.ejections");

        for (var i = 0; i < 2; i++)
        {
            await CallWithInboundBudgetAsync(mesh, backend);
        }

        using var next = await mesh.GetAsync(Items);
        next.StatusCode.ShouldBe(HttpStatusCode.OK);
        ejections.GetMeasurementSnapshot().Sum(m => m.Value).ShouldBe(0);
    }

    [Fact]
    public async Task The_route_timeout_still_judges_the_endpoint()
    {
        var backend = new ScriptedBackend(s => s.Number <= 2 ? ScriptedBackend.HangAsync(s) : ScriptedBackend.Answer(200));
        var policy = new Dictionary<string, string?>
        {
            ["Routes:0:Name"] = "default",
            ["Routes:0:Retry:Attempts"] = "0",
            ["Routes:0:Timeout"] = "00:00:01",
            ["OutlierDetection:Consecutive5xxErrors"] = "0",
            ["CircuitBreaker:FailureRatio"] = "0.5",
            ["CircuitBreaker:MinimumThroughput"] = "2",
        };
        using var mesh = MeshUnderTest.Create(backend, "reviews", ["v1"], policy);

        for (var i = 0; i < 2; i++)
        {
            var call = mesh.GetAsync(Items);
            await backend.NextAsync();
            mesh.Time.Advance(TimeSpan.FromSeconds(1));
            await Should.ThrowAsync<TaskCanceledException>(call);
        }
        using var next = await mesh.GetAsync(Items);
        next.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, "two timeouts of the route's own opened the breaker");
    }

    /// <summary>
    /// A call made while serving a request whose caller gave it 50 ms, left to run out mid-attempt. Async on its own:
    /// the inbound deadline ends with this method, as it ends with the inbound middleware.
    /// </summary>
    private static async Task<Exception> CallWithInboundBudgetAsync(MeshUnderTest mesh, ScriptedBackend backend)
    {
        MeshCallDeadline.Shorten(TimeSpan.FromMilliseconds(50), mesh.Time);
        var call = mesh.GetAsync(Items);
        await backend.NextAsync();
        mesh.Time.Advance(TimeSpan.FromMilliseconds(50));
        try
        {
            await call;
        }
        catch (TaskCanceledException ex)
        {
            return ex;
        }

        throw new ShouldAssertException("The call succeeded; a timeout was expected.");
    }
}
