using System.Net;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

public sealed class WatchTests : IAsyncLifetime
{
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

    [Fact]
    public async Task Watches_of_names_nobody_uses_leave_nothing_behind_yet_wake_on_a_registration()
    {
        var index = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var watches = Enumerable.Range(0, 20).Select(i => _client.GetJsonAsync($"/v1/services/nobody-{i}/instances?index={index}&wait=30s")).ToList();
        watches.Add(_client.GetJsonAsync($"/v1/policies/nobody-policy?index={index}&wait=30s"));
        var ratings = _client.GetJsonAsync($"/v1/services/ratings/instances?index={index}&wait=30s");
        await ParkedAsync(22);
        TrackedServices().ShouldContain("nobody-0");

        // A watch parked on a name that gets used is woken, as before.
        var registered = await _host.Admin.RegisterIndexAsync("ratings", "a", "http://127.0.0.1:5003");
        (await ratings.WaitAsync(TimeSpan.FromSeconds(10))).Index().ShouldBe(registered);

        // The others end at their wait, and what only they made goes with them: a reader cannot grow the store's
        // memory by watching names nobody uses.
        await ParkedAsync(21);
        _time.Advance(TimeSpan.FromSeconds(31));
        foreach (var watch in watches)
        {
            (await watch.WaitAsync(TimeSpan.FromSeconds(10))).GetProperty("index").GetInt64().ShouldBe(0);
        }

        TrackedServices().ShouldNotContain(name => name.StartsWith("nobody-", StringComparison.Ordinal));
        TrackedServices().ShouldContain("ratings");
    }

    /// <summary>The names the store keeps an in-memory entry for (both stores keep them in a field of this name).</summary>
    private IReadOnlyList<string> TrackedServices()
    {
        var field = _host.Store.GetType().GetField("_services", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        var services = (System.Collections.IDictionary)field.GetValue(_host.Store)!;
        return [.. services.Keys.Cast<string>()]; // read once every watch has ended: nothing changes it meanwhile
    }

    [Fact]
    public async Task A_stale_index_answers_at_once()
    {
        var first = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var second = await _client.RegisterIndexAsync("reviews", "r2", "http://127.0.0.1:5002");
        second.ShouldBeGreaterThan(first);

        // The fake clock never moves here, so only a prompt answer can come back.
        var answer = await _client.GetJsonAsync($"/v1/services/reviews/instances?index={first}&wait=5m");
        answer.Index().ShouldBe(second);
        answer.GetProperty("instances").GetArrayLength().ShouldBe(2);

        using var response = await _client.GetAsync(new Uri($"/v1/services/reviews/instances?index={first}&wait=5m", UriKind.Relative));
        response.MeshIndex().ShouldBe(second);
    }

    [Fact]
    public async Task A_current_index_blocks_until_a_change()
    {
        var index = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");

        var watch = _client.GetJsonAsync($"/v1/services/reviews/instances?index={index}&wait=30s");
        await ParkedAsync();
        watch.IsCompleted.ShouldBeFalse();

        var changed = await _client.RegisterIndexAsync("reviews", "r2", "http://127.0.0.1:5002");
        changed.ShouldBeGreaterThan(index);
        var answer = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        answer.Index().ShouldBe(changed);
        answer.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ShouldBe(["r1", "r2"]);
    }

    [Fact]
    public async Task A_renewal_does_not_wake_watchers_but_a_deregistration_does()
    {
        var index = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var watch = _client.GetJsonAsync($"/v1/services/reviews/instances?index={index}&wait=30s");
        await ParkedAsync();

        (await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001")).ShouldBe(index);
        _host.Store.WaitingWatches.ShouldBe(1);
        watch.IsCompleted.ShouldBeFalse();

        (await _client.DeleteAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative))).Dispose();
        var answer = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        answer.Index().ShouldBeGreaterThan(index);
        answer.GetProperty("instances").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task A_watch_returns_after_its_wait_with_the_same_index()
    {
        var index = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var watch = _client.GetJsonAsync($"/v1/services/reviews/instances?index={index}&wait=30s");
        await ParkedAsync();

        _time.Advance(TimeSpan.FromSeconds(29));
        _host.Store.WaitingWatches.ShouldBe(1);
        _time.Advance(TimeSpan.FromSeconds(1));
        var answer = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        answer.Index().ShouldBe(index);
        answer.GetProperty("instances").GetArrayLength().ShouldBe(1);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("10h", 300_000)] // capped at MaxWatchWait, 5 minutes
    public async Task Wait_durations_are_parsed_and_capped(string wait, int milliseconds)
    {
        var index = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var watch = _client.GetJsonAsync($"/v1/services/reviews/instances?index={index}&wait={wait}");
        await ParkedAsync();

        _time.Advance(TimeSpan.FromMilliseconds(milliseconds - 1));
        _host.Store.WaitingWatches.ShouldBe(1);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        (await watch.WaitAsync(TimeSpan.FromSeconds(10))).Index().ShouldBe(index);
    }

    [Theory]
    [InlineData("?index=1&wait=soon", "wait")]
    [InlineData("?index=1&wait=-5s", "wait")]
    [InlineData("?index=-1", "index")]
    [InlineData("?index=abc", "index")]
    [InlineData("?index=1&index=2", "index")]
    public async Task Bad_watch_parameters_are_400_naming_the_parameter(string query, string field)
    {
        using var response = await _client.GetAsync(new Uri("/v1/services/reviews/instances" + query, UriKind.Relative));
        await response.ProblemAsync(HttpStatusCode.BadRequest);
        (await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
    }

    [Fact]
    public async Task An_unknown_service_can_be_watched_until_it_appears()
    {
        var empty = await _client.GetJsonAsync("/v1/services/ratings/instances");
        empty.Index().ShouldBe(0);
        empty.GetProperty("instances").GetArrayLength().ShouldBe(0);

        var watch = _client.GetJsonAsync("/v1/services/ratings/instances?index=0&wait=1m");
        await ParkedAsync();
        (await _host.Admin.RegisterAsync("ratings", "x1", "http://127.0.0.1:6001")).Dispose();
        (await watch.WaitAsync(TimeSpan.FromSeconds(10))).GetProperty("instances").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task An_index_from_the_future_answers_at_once()
    {
        var index = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");

        // The fake clock never moves here, so only a prompt answer can come back.
        var answer = await _client.GetJsonAsync($"/v1/services/reviews/instances?index={index + Api.FutureIndexOffset}&wait=5m");
        answer.Index().ShouldBe(index);
        answer.GetProperty("instances").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task Policies_and_the_catalog_are_watched_the_same_way()
    {
        var policy = _client.GetJsonAsync("/v1/policies/reviews?index=0&wait=1m");
        var catalog = _client.GetJsonAsync("/v1/services?index=0&wait=1m");
        await ParkedAsync(2);

        // An instance change wakes the catalog but not the policy watch: the service keeps the two indexes apart.
        var registered = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        (await catalog.WaitAsync(TimeSpan.FromSeconds(10))).Index().ShouldBe(registered);
        await ParkedAsync(1);
        policy.IsCompleted.ShouldBeFalse();

        long written;
        using (var put = await _host.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative),
                   Api.Json("""{ "LoadBalancer": { "Policy": "RoundRobin" } }""")))
        {
            put.EnsureSuccessStatusCode();
            written = put.MeshIndex();
        }

        written.ShouldBeGreaterThan(registered);
        var answer = await policy.WaitAsync(TimeSpan.FromSeconds(10));
        answer.GetProperty("version").GetInt64().ShouldBe(1);
        answer.Index().ShouldBe(written);
        answer.GetProperty("document").GetProperty("LoadBalancer").GetProperty("Policy").GetString().ShouldBe("RoundRobin");
    }

    [Fact]
    public async Task Stopping_the_registry_ends_parked_watches()
    {
        var index = await _client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var watch = _client.GetAsync(new Uri($"/v1/services/reviews/instances?index={index}&wait=5m", UriKind.Relative));
        await ParkedAsync();

        var stopping = _host.App.StopAsync();
        (await stopping.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(t => t.IsCompletedSuccessfully)).ShouldBeTrue();
        using var response = await watch.WaitAsync(TimeSpan.FromSeconds(10));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}

public sealed class RealClockWatchTests : IAsyncLifetime
{
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task With_the_system_clock_a_watch_returns_after_its_wait()
    {
        var client = _host.Client(RegistryHost.ReviewsToken);
        var index = await client.RegisterIndexAsync("reviews", "r1", "http://127.0.0.1:5001");
        var started = System.Diagnostics.Stopwatch.StartNew();
        var answer = await client.GetJsonAsync($"/v1/services/reviews/instances?index={index}&wait=300ms");
        started.Elapsed.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(250));
        answer.Index().ShouldBe(index);
    }
}
