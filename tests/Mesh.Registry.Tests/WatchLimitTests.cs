using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Mesh.Registry.Watches;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.Registry.Tests;

/// <summary>
/// <c>MeshRegistry:MaxWatchesPerCaller</c>: a watch that would park while its caller (a service's join token or
/// certificate, from one address) has the limit parked already is refused with 429 at once; reads that answer at once never are, other
/// callers and the admin are not held to it, and a watch that ends, however it ends, gives its place back.
/// </summary>
public sealed class WatchLimitTests : IAsyncLifetime
{
    private const string Option = "MeshRegistry:MaxWatchesPerCaller";
    private readonly ManualTimeProvider _time = new();
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync(_time, s => s[Option] = "2");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private WatchLimiter Limiter => _host.App.Services.GetRequiredService<WatchLimiter>();

    private async Task ParkedAsync(int count) =>
        await Poll.UntilAsync(() => _host.Store.WaitingWatches == count, because: $"{count} watch(es) parked");

    private static Uri Path(string path) => new(path, UriKind.Relative);

    private static async Task ShouldBeRefusedAsync(Task<HttpResponseMessage> request)
    {
        using var refused = await request.WaitAsync(TimeSpan.FromSeconds(10));
        var problem = await refused.ProblemAsync(HttpStatusCode.TooManyRequests);
        problem.ShouldContain("Too many watches");
        problem.ShouldContain(" 2 ");
        problem.ShouldContain(Option);
        refused.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(TooManyWatches.RetryAfterSeconds));
    }

    [Fact]
    public async Task A_third_parked_watch_of_a_join_token_is_refused_while_reads_other_callers_and_the_admin_are_not()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        var index = await reviews.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");

        var first = reviews.GetAsync(Path($"/v1/services/reviews/instances?index={index}&wait=5m"));
        var second = reviews.GetAsync(Path($"/v1/policies/reviews?index={index}&wait=5m"));
        await ParkedAsync(2);

        // Every blocking read counts: the aggregated watch and the catalog are refused at once, and park nothing.
        await ShouldBeRefusedAsync(reviews.PostAsync(Path($"/v1/watch?index={index}&wait=5m"), Api.Json("""{"services":["reviews"]}""")));
        await ShouldBeRefusedAsync(reviews.GetAsync(Path($"/v1/services?index={index}&wait=5m")));
        _host.Store.WaitingWatches.ShouldBe(2);

        // Reads that answer at once are never refused: no index, or an index the state has passed.
        (await reviews.GetJsonAsync("/v1/services/reviews/instances")).Index().ShouldBe(index);
        (await reviews.GetJsonAsync($"/v1/services/reviews/instances?index={index - 1}&wait=5m")).Index().ShouldBe(index);
        using (var all = await reviews.PostAsync(Path($"/v1/watch?index={index - 1}&wait=5m"), Api.Json("""{"services":["reviews"]}""")))
        {
            all.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        // Another service's caller has places of its own, and the admin is not limited.
        var ratings = _host.Client(RegistryHost.RatingsToken);
        var other = ratings.GetAsync(Path($"/v1/services/ratings/instances?index={index}&wait=5m"));
        await ParkedAsync(3);
        var admin = Enumerable.Range(0, 3).Select(_ => _host.Admin.GetAsync(Path($"/v1/services?index={index}&wait=5m"))).ToList();
        await ParkedAsync(6);

        // A change answers the reviews instance watch (and the catalog's): its place is free again.
        var changed = await reviews.RegisterIndexAsync("reviews", "r2", "http://127.0.0.1:5002");
        using (var answered = await first.WaitAsync(TimeSpan.FromSeconds(10)))
        {
            (await answered.ReadJsonAsync()).Index().ShouldBe(changed);
        }

        foreach (var watch in admin)
        {
            (await watch.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        }

        await ParkedAsync(2);
        var third = reviews.GetAsync(Path($"/v1/services/reviews/instances?index={changed}&wait=5m"));
        await ParkedAsync(3);
        await ShouldBeRefusedAsync(reviews.GetAsync(Path($"/v1/services?index={changed}&wait=5m")));

        // A timeout frees every place, and the limiter forgets callers with none parked.
        _time.Advance(TimeSpan.FromMinutes(5));
        foreach (var watch in new[] { second, other, third })
        {
            (await watch.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        await ParkedAsync(0);
        await Poll.UntilAsync(() => Limiter.Identities == 0, because: "no caller has a watch parked");
    }

    [Fact]
    public async Task A_watch_that_waits_no_time_answers_at_once_at_the_limit()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        var index = await reviews.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var first = reviews.GetAsync(Path($"/v1/services/reviews/instances?index={index}&wait=5m"));
        var second = reviews.GetAsync(Path($"/v1/policies/reviews?index={index}&wait=5m"));
        await ParkedAsync(2);

        // wait=0 parks for no time: it is a read that answers at once, whatever the caller has parked.
        (await reviews.GetJsonAsync($"/v1/services/reviews/instances?index={index}&wait=0s")).Index().ShouldBe(index);
        (await reviews.GetJsonAsync($"/v1/services?index={index}&wait=0s")).Index().ShouldBe(index);
        using (var all = await reviews.PostAsync(Path($"/v1/watch?index={index}&wait=0s"), Api.Json("""{"services":["reviews"]}""")))
        {
            all.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        var bundleIndex = (await reviews.GetJsonAsync("/v1/trust-bundle")).Index();
        (await reviews.GetJsonAsync($"/v1/trust-bundle?index={bundleIndex}&wait=0s")).Index().ShouldBe(bundleIndex);

        _host.Store.WaitingWatches.ShouldBe(2);
        _time.Advance(TimeSpan.FromMinutes(5));
        (await first.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        (await second.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
    }

    [Fact]
    public async Task The_same_token_from_another_address_has_places_of_its_own()
    {
        // Every instance of a service holds its service's token; each runs on an address of its own, so the limit is
        // per app, not per service.
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        var index = await reviews.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var here = new[]
        {
            reviews.GetAsync(Path($"/v1/services?index={index}&wait=5m")),
            reviews.GetAsync(Path($"/v1/services/reviews/instances?index={index}&wait=5m")),
        };
        await ParkedAsync(2);
        await ShouldBeRefusedAsync(reviews.GetAsync(Path($"/v1/services?index={index}&wait=5m")));

        using var elsewhere = FromAddress(IPAddress.Parse("127.0.0.2"), RegistryHost.ReviewsToken);
        var there = new[]
        {
            elsewhere.GetAsync(Path($"/v1/services?index={index}&wait=5m")),
            elsewhere.GetAsync(Path($"/v1/policies/reviews?index={index}&wait=5m")),
        };
        await ParkedAsync(4);
        await ShouldBeRefusedAsync(elsewhere.GetAsync(Path($"/v1/services?index={index}&wait=5m")));

        _time.Advance(TimeSpan.FromMinutes(5));
        foreach (var watch in here.Concat(there))
        {
            (await watch.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task A_trust_bundle_watch_counts_like_any_other()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        var bundleIndex = (await reviews.GetJsonAsync("/v1/trust-bundle")).Index();
        var index = await reviews.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var bundle = reviews.GetAsync(Path($"/v1/trust-bundle?index={bundleIndex}&wait=5m"));
        var catalog = reviews.GetAsync(Path($"/v1/services?index={index}&wait=5m"));
        await Poll.UntilAsync(() => Limiter.Parked == 2, because: "the catalog and the bundle parked");
        await ShouldBeRefusedAsync(reviews.GetAsync(Path($"/v1/trust-bundle?index={bundleIndex}&wait=5m")));

        // Asked without an index, the bundle answers at once, limit or not.
        (await reviews.GetJsonAsync("/v1/trust-bundle")).Index().ShouldBe(bundleIndex);

        _time.Advance(TimeSpan.FromMinutes(5));
        (await bundle.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await catalog.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(() => Limiter.Identities == 0, because: "no caller has a watch parked");
    }

    /// <summary>A client of the registry whose connections come from <paramref name="source"/> (any 127.0.0.0/8 address is local).</summary>
    private HttpClient FromAddress(IPAddress source, string token)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = _host.Address, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    [Fact]
    public async Task An_aborted_watch_gives_its_place_back()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        var index = await reviews.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        using var abort = new CancellationTokenSource();
        var aborted = reviews.PostAsync(Path($"/v1/watch?index={index}&wait=5m"), Api.Json("""{"services":["reviews"]}"""), abort.Token);
        var kept = reviews.GetAsync(Path($"/v1/services?index={index}&wait=5m"));
        await ParkedAsync(2);
        await ShouldBeRefusedAsync(reviews.GetAsync(Path($"/v1/services?index={index}&wait=5m")));

        await abort.CancelAsync();
        await Should.ThrowAsync<TaskCanceledException>(() => aborted);
        await ParkedAsync(1);
        var again = reviews.GetAsync(Path($"/v1/services?index={index}&wait=5m"));
        await ParkedAsync(2);

        _time.Advance(TimeSpan.FromMinutes(5));
        (await kept.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await again.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Consul_blocking_queries_count_against_the_same_limit()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        var index = await reviews.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var consul = _host.Client(null);
        consul.DefaultRequestHeaders.Add("X-Consul-Token", RegistryHost.ReviewsToken);

        var health = consul.GetAsync(Path($"/v1/health/service/reviews?index={index}&wait=5m"));
        var catalog = consul.GetAsync(Path($"/v1/catalog/services?index={index}&wait=5m"));
        await ParkedAsync(2);

        // The caller is the token, whichever API it comes through.
        await ShouldBeRefusedAsync(consul.GetAsync(Path($"/v1/catalog/service/reviews?index={index}&wait=5m")));
        await ShouldBeRefusedAsync(reviews.GetAsync(Path($"/v1/services/reviews/instances?index={index}&wait=5m")));
        using (var now = await consul.GetAsync(Path("/v1/health/service/reviews")))
        {
            now.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        var ratings = _host.Client(null);
        ratings.DefaultRequestHeaders.Add("X-Consul-Token", RegistryHost.RatingsToken);
        var other = ratings.GetAsync(Path($"/v1/health/service/ratings?index={index}&wait=5m"));
        await ParkedAsync(3);

        await reviews.RegisterIndexAsync("reviews", "r2", "http://127.0.0.1:5002");
        (await health.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await catalog.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await ParkedAsync(1);

        var changed = await reviews.GetJsonAsync("/v1/services/reviews/instances");
        var next = consul.GetAsync(Path($"/v1/health/service/reviews?index={changed.Index()}&wait=5m"));
        await ParkedAsync(2);

        _time.Advance(TimeSpan.FromMinutes(5));
        (await next.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await other.WaitAsync(TimeSpan.FromSeconds(10))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1000001")]
    public async Task A_limit_outside_1_to_1000000_fails_the_start_with_its_path(string value)
    {
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?> { [Option] = value });
        errors.ShouldContain($"{Option}: {value} must be from 1 to 1000000");
    }
}
