using System.Collections.Concurrent;
using Mesh.Client.Internal;
using Mesh.Client.Registry;
using Mesh.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Mesh.Client.Tests.Registry;

/// <summary>
/// <see cref="RegistryClient"/> over real Kestrel servers standing in for registry replicas: a call moves to the next
/// replica on a refused connection, a 503 or no answer in time, after the failover's backoff on the app's clock, with the
/// same request; a 4xx is an answer.
/// </summary>
public sealed class RegistryClientFailoverTests
{
    private const int Seed = 5;

    /// <summary>A replica that answers a catalog watch with <paramref name="index"/> and keeps each request's query.</summary>
    private static Task<TestBackend> ReplicaAsync(string name, long index, ConcurrentQueue<string> queries, int status = 200) =>
        TestBackend.StartAsync(name, async context =>
        {
            queries.Enqueue(context.Request.QueryString.Value ?? string.Empty);
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$"""{ "index": {{index}}, "services": [] }""");
        });

    private static RegistryTransport Transport(ManualTimeProvider time, params Uri[] replicas)
    {
        var options = new MeshOptions();
        options.Registry.Urls = replicas;
        return new RegistryTransport(Options.Create(options), time, new SeededRandomSource(Seed), NullLogger<RegistryTransport>.Instance);
    }

    /// <summary>Waits until the call has failed <paramref name="failures"/> times and sleeps on its backoff timer.</summary>
    private static Task BackingOffAsync(RegistryTransport transport, ManualTimeProvider time, int failures) =>
        Poll.UntilAsync(() => transport.Failover.ConsecutiveFailures == failures && time.ScheduledTimers == 1,
            because: "the call failed and waits for its backoff");

    [Fact]
    public async Task A_watch_refused_by_a_dead_replica_asks_the_next_with_the_same_index_after_the_backoff()
    {
        var time = new ManualTimeProvider();
        var queries = new ConcurrentQueue<string>();
        await using var live = await ReplicaAsync("live", 8, queries);
        var dead = TestBackend.ClosedPortAddress();
        using var transport = Transport(time, dead, live.Address);
        using var client = transport.CreateClient();

        var watch = client.WatchServicesAsync(7, TimeSpan.FromSeconds(1), CancellationToken.None);
        await BackingOffAsync(transport, time, 1);
        transport.Failover.Current.ShouldBe(live.Address);
        live.Requests.ShouldBe(0); // it waits on the app's clock, which has not moved

        time.Advance(RegistryFailover.Backoff(1, new SeededRandomSource(Seed)));
        var answer = await watch;

        answer!.Index.ShouldBe(8);
        queries.ShouldHaveSingleItem().ShouldBe("?index=7&wait=1000ms");
        transport.Failover.ConsecutiveFailures.ShouldBe(0);
    }

    [Fact]
    public async Task A_503_moves_the_call_and_every_later_one_to_the_next_replica()
    {
        var time = new ManualTimeProvider();
        var unavailableQueries = new ConcurrentQueue<string>();
        var liveQueries = new ConcurrentQueue<string>();
        await using var unavailable = await ReplicaAsync("unavailable", 3, unavailableQueries, StatusCodes.Status503ServiceUnavailable);
        await using var live = await ReplicaAsync("live", 4, liveQueries);
        using var transport = Transport(time, unavailable.Address, live.Address);
        using var client = transport.CreateClient();

        var watch = client.WatchServicesAsync(3, TimeSpan.Zero, CancellationToken.None);
        await BackingOffAsync(transport, time, 1);
        time.Advance(RegistryFailover.MaxBackoff);
        (await watch)!.Index.ShouldBe(4);

        (await client.WatchServicesAsync(4, TimeSpan.Zero, CancellationToken.None))!.Index.ShouldBe(4);
        unavailable.Requests.ShouldBe(1);
        liveQueries.ShouldBe(["?index=3&wait=0ms", "?index=4&wait=0ms"]);
    }

    [Fact]
    public async Task A_replica_that_does_not_answer_in_time_is_left_for_the_next()
    {
        var time = new ManualTimeProvider();
        var queries = new ConcurrentQueue<string>();
        await using var hanging = await TestBackend.StartAsync("hanging", context => Task.Delay(Timeout.Infinite, context.RequestAborted));
        await using var live = await ReplicaAsync("live", 12, queries);
        using var transport = Transport(time, hanging.Address, live.Address);
        using var client = transport.CreateClient();

        var wait = TimeSpan.FromSeconds(30);
        var watch = client.WatchServicesAsync(11, wait, CancellationToken.None);
        await Poll.UntilAsync(() => hanging.Requests == 1 && time.ScheduledTimers == 1, because: "the call waits at the hanging replica");

        // The registry was asked to hold the poll for 30 s; the replica gets that and the attempt timeout, on the app's clock.
        time.Advance(wait + RegistryFailover.AttemptTimeout);
        await BackingOffAsync(transport, time, 1);
        time.Advance(RegistryFailover.MaxBackoff);

        (await watch)!.Index.ShouldBe(12);
        queries.ShouldHaveSingleItem().ShouldBe("?index=11&wait=30000ms");
    }

    [Fact]
    public async Task A_4xx_is_the_registrys_answer_and_no_reason_to_move()
    {
        var time = new ManualTimeProvider();
        var refusingQueries = new ConcurrentQueue<string>();
        var otherQueries = new ConcurrentQueue<string>();
        await using var refusing = await ReplicaAsync("refusing", 1, refusingQueries, StatusCodes.Status403Forbidden);
        await using var other = await ReplicaAsync("other", 1, otherQueries);
        using var transport = Transport(time, refusing.Address, other.Address);
        using var client = transport.CreateClient();

        var error = await Should.ThrowAsync<HttpRequestException>(() => client.WatchServicesAsync(0, TimeSpan.Zero, CancellationToken.None));

        error.StatusCode.ShouldBe(System.Net.HttpStatusCode.Forbidden);
        transport.Failover.Current.ShouldBe(refusing.Address);
        transport.Failover.ConsecutiveFailures.ShouldBe(0);
        other.Requests.ShouldBe(0);
    }

    [Fact]
    public async Task When_every_replica_fails_the_call_fails_once_each_was_tried()
    {
        var time = new ManualTimeProvider();
        var first = TestBackend.ClosedPortAddress();
        var second = TestBackend.ClosedPortAddress();
        using var transport = Transport(time, first, second);
        using var client = transport.CreateClient();

        var registration = client.RegisterAsync("reviews", "r1", new InstanceRegistration { Address = "http://127.0.0.1:5001" }, CancellationToken.None);
        await BackingOffAsync(transport, time, 1);
        time.Advance(RegistryFailover.MaxBackoff);

        var error = await Should.ThrowAsync<HttpRequestException>(() => registration);
        error.StatusCode.ShouldBeNull();
        transport.Failover.ConsecutiveFailures.ShouldBe(2);
        transport.Failover.Current.ShouldBe(first); // round again: the next call starts where the set now is
    }
}
