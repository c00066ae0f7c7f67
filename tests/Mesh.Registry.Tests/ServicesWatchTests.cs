using System.Net;
using System.Text.Json;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary><c>POST /v1/watch</c>: many services' instances and policies in one long poll.</summary>
public sealed class ServicesWatchTests : IAsyncLifetime
{
    private const string Policy = """{ "LoadBalancer": { "Policy": "RoundRobin" } }""";

    private readonly ManualTimeProvider _time = new();
    private RegistryHost _host = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync(_time);
        _client = _host.Client(RegistryHost.ReviewsToken);
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task ParkedAsync(int count = 1) =>
        await Poll.UntilAsync(() => _host.Store.WaitingWatches == count, because: $"{count} watch(es) parked");

    private static Task<HttpResponseMessage> PostWatchAsync(HttpClient client, string query, params string[] services) =>
        client.PostAsync(new Uri("/v1/watch" + query, UriKind.Relative), Api.Json(JsonSerializer.Serialize(new { services })));

    private async Task<JsonElement> WatchAsync(string query, params string[] services)
    {
        using var response = await PostWatchAsync(_client, query, services);
        var answer = await response.ReadJsonAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, answer.ToString());
        response.Headers.GetValues("X-Mesh-Index").Single().ShouldBe(answer.GetProperty("index").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture));
        return answer;
    }

    private static string[] Names(JsonElement answer) =>
        [.. answer.GetProperty("services").EnumerateArray().Select(s => s.GetProperty("name").GetString()!)];

    private static JsonElement Service(JsonElement answer, string name) =>
        answer.GetProperty("services").EnumerateArray().Single(s => s.GetProperty("name").GetString() == name);

    /// <summary>Writes the policy; the index of its version.</summary>
    private async Task<long> PutPolicyAsync(string service)
    {
        using var response = await _host.Admin.PutAsync(new Uri($"/v1/policies/{service}", UriKind.Relative), Api.Json(Policy));
        response.EnsureSuccessStatusCode();
        return (await response.ReadJsonAsync()).Index();
    }

    [Fact]
    public async Task Without_an_index_it_answers_every_named_service_at_once()
    {
        var registered = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var written = await PutPolicyAsync("ratings");
        written.ShouldBeGreaterThan(registered);

        // The fake clock never moves here, so only a prompt answer can come back.
        var answer = await WatchAsync("?wait=5m", "reviews", "Ratings", "details", "reviews");
        answer.Index().ShouldBeGreaterThanOrEqualTo(written);
        Names(answer).ShouldBe(["reviews", "ratings", "details"]);

        var reviews = Service(answer, "reviews");
        reviews.GetProperty("instances").Index().ShouldBe(registered);
        reviews.GetProperty("instances").GetProperty("instances").EnumerateArray().Single().GetProperty("id").GetString().ShouldBe("r1");
        reviews.GetProperty("policy").GetProperty("version").GetInt64().ShouldBe(0);

        var ratings = Service(answer, "ratings");
        ratings.GetProperty("instances").GetProperty("instances").GetArrayLength().ShouldBe(0);
        ratings.GetProperty("policy").Index().ShouldBe(written);
        ratings.GetProperty("policy").GetProperty("version").GetInt64().ShouldBe(1);
        ratings.GetProperty("policy").GetProperty("document").GetProperty("LoadBalancer").GetProperty("Policy").GetString().ShouldBe("RoundRobin");

        var details = Service(answer, "details");
        details.GetProperty("instances").GetProperty("index").GetInt64().ShouldBe(0);
        details.GetProperty("policy").GetProperty("index").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task It_parks_and_wakes_on_an_instance_change_of_one_named_service_with_its_full_state()
    {
        (await _client.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001")).Dispose();
        var written = await PutPolicyAsync("ratings");

        var watch = WatchAsync($"?index={written}&wait=1m", "reviews", "ratings");
        await ParkedAsync();
        watch.IsCompleted.ShouldBeFalse();

        var registered = await _host.Admin.RegisterIndexAsync("ratings", "x1", "http://127.0.0.1:6001");
        registered.ShouldBeGreaterThan(written);
        var answer = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        answer.Index().ShouldBeGreaterThanOrEqualTo(registered);
        Names(answer).ShouldBe(["ratings"]);
        var ratings = Service(answer, "ratings");
        ratings.GetProperty("instances").Index().ShouldBe(registered);
        ratings.GetProperty("instances").GetProperty("instances").EnumerateArray().Single().GetProperty("id").GetString().ShouldBe("x1");

        // Full state, not a delta: the policy that did not change comes with it.
        ratings.GetProperty("policy").GetProperty("version").GetInt64().ShouldBe(1);
        ratings.GetProperty("policy").Index().ShouldBe(written);
    }

    [Fact]
    public async Task It_wakes_on_a_policy_change_of_another_named_service()
    {
        var registered = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");

        var watch = WatchAsync($"?index={registered}&wait=1m", "ratings", "reviews");
        await ParkedAsync();

        var written = await PutPolicyAsync("reviews");
        var answer = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        answer.Index().ShouldBeGreaterThanOrEqualTo(written);
        Names(answer).ShouldBe(["reviews"]);
        var reviews = Service(answer, "reviews");
        reviews.GetProperty("policy").GetProperty("version").GetInt64().ShouldBe(1);
        reviews.GetProperty("policy").Index().ShouldBe(written);
        reviews.GetProperty("instances").GetProperty("instances").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task A_change_to_a_service_not_named_does_not_answer_and_the_wait_answers_the_new_index()
    {
        var registered = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var watch = WatchAsync($"?index={registered}&wait=30s", "reviews");
        await ParkedAsync();

        var elsewhere = await _host.Admin.RegisterIndexAsync("ratings", "x1", "http://127.0.0.1:6001");
        var written = await PutPolicyAsync("ratings");

        // Both changes woke the store's catalog signal; the watch read again, found nothing named, and parked again.
        (await _client.GetJsonAsync("/v1/services/ratings/instances")).Index().ShouldBe(elsewhere);
        _host.Store.WaitingWatches.ShouldBe(1);
        watch.IsCompleted.ShouldBeFalse();

        _time.Advance(TimeSpan.FromSeconds(29));
        _host.Store.WaitingWatches.ShouldBe(1);
        watch.IsCompleted.ShouldBeFalse();
        _time.Advance(TimeSpan.FromSeconds(1));
        var answer = await watch.WaitAsync(TimeSpan.FromSeconds(10));

        // Nothing named changed up to the registry's index, so the caller resumes from there.
        answer.Index().ShouldBeGreaterThanOrEqualTo(written);
        Names(answer).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_change_between_two_polls_is_never_missed()
    {
        var first = await WatchAsync(string.Empty, "reviews", "ratings");
        var index = first.Index();

        // Between the polls: the next poll from the returned index answers at once with it.
        var registered = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var second = await WatchAsync($"?index={index}&wait=5m", "reviews", "ratings");
        Names(second).ShouldBe(["reviews"]);
        index = second.Index();
        index.ShouldBeGreaterThanOrEqualTo(registered);

        // Two changes, one per service, while no poll is parked: both come with the next poll.
        await PutPolicyAsync("ratings");
        var last = await _client.RegisterIndexAsync("reviews", "r2", "http://127.0.0.1:5002");
        var third = await WatchAsync($"?index={index}&wait=5m", "reviews", "ratings");
        Names(third).ShouldBe(["reviews", "ratings"]);
        third.Index().ShouldBeGreaterThanOrEqualTo(last);
        Service(third, "reviews").GetProperty("instances").GetProperty("instances").GetArrayLength().ShouldBe(2);

        // From the index it returned, the poll parks: nothing is answered twice.
        var fourth = WatchAsync($"?index={third.Index()}&wait=5m", "reviews", "ratings");
        await ParkedAsync();
        using var deleted = await _client.DeleteAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative));
        var answer = await fourth.WaitAsync(TimeSpan.FromSeconds(10));
        answer.Index().ShouldBeGreaterThan(third.Index());
        Service(answer, "reviews").GetProperty("instances").GetProperty("instances").EnumerateArray().Single().GetProperty("id").GetString().ShouldBe("r2");
    }

    [Fact]
    public async Task An_index_from_the_future_answers_every_named_service_at_once()
    {
        var registered = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var answer = await WatchAsync($"?index={registered + Api.FutureIndexOffset}&wait=5m", "reviews", "ratings");
        answer.Index().ShouldBeGreaterThanOrEqualTo(registered);
        answer.Index().ShouldBeLessThan(registered + Api.FutureIndexOffset);
        Names(answer).ShouldBe(["reviews", "ratings"]);
    }

    [Fact]
    public async Task Stopping_the_registry_ends_a_parked_watch()
    {
        var watch = PostWatchAsync(_client, "?index=0&wait=5m", "reviews");
        await ParkedAsync();

        var stopping = _host.App.StopAsync();
        (await stopping.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(t => t.IsCompletedSuccessfully)).ShouldBeTrue();
        using var response = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        _host.Store.WaitingWatches.ShouldBe(0);
    }

    [Fact]
    public async Task It_needs_a_caller_the_registry_knows_as_each_service_watch_does()
    {
        using (var none = await PostWatchAsync(_host.Client(null), "?wait=5m", "reviews"))
        {
            await none.ProblemAsync(HttpStatusCode.Unauthorized);
        }

        using (var wrong = await PostWatchAsync(_host.Client("not-a-token-0123456789"), "?wait=5m", "reviews"))
        {
            await wrong.ProblemAsync(HttpStatusCode.Unauthorized);
        }

        // Reading is open to every known caller: the reviews token watches ratings, as it may watch ratings' instances.
        (await _host.Admin.RegisterAsync("ratings", "x1", "http://127.0.0.1:6001")).Dispose();
        Names(await WatchAsync("?wait=5m", "ratings")).ShouldBe(["ratings"]);
    }

    [Theory]
    [InlineData("""{ "services": [] }""", "services")]
    [InlineData("""{ }""", "services")]
    [InlineData("""{ "services": ["reviews", "not a name"] }""", "services[1]")]
    [InlineData("""{ "services": "reviews" }""", "services")]
    [InlineData("""not json""", "body")]
    public async Task A_bad_body_is_400_naming_the_field(string body, string field)
    {
        using var response = await _client.PostAsync(new Uri("/v1/watch?wait=5m", UriKind.Relative), Api.Json(body));
        await response.ProblemAsync(HttpStatusCode.BadRequest);
        (await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
    }

    [Fact]
    public async Task A_thousand_services_fit_and_one_more_is_refused()
    {
        var names = Enumerable.Range(0, 1000).Select(i => $"service-{i:D4}-" + new string('x', 50)).ToArray();
        var answer = await WatchAsync("?wait=5m", names);
        answer.GetProperty("services").GetArrayLength().ShouldBe(1000);

        using var response = await PostWatchAsync(_client, "?wait=5m", [.. names, "one-more"]);
        await response.ProblemAsync(HttpStatusCode.BadRequest);
        (await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty("services", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Bad_watch_parameters_are_400_naming_the_parameter()
    {
        using var response = await PostWatchAsync(_client, "?index=abc", "reviews");
        await response.ProblemAsync(HttpStatusCode.BadRequest);
        (await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty("index", out _).ShouldBeTrue();
    }
}
