using System.Diagnostics.Metrics;
using System.Net;
using Mesh.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// <c>MeshRegistry:MaxInstancesPerService</c>: a new instance id beyond the limit is refused with 409 and nothing
/// written, whoever asks; renewals and changes of existing ids always pass, and a deregistration frees a place.
/// </summary>
public sealed class InstanceLimitTests : IAsyncLifetime
{
    private const string Option = "MeshRegistry:MaxInstancesPerService";
    private readonly ManualTimeProvider _time = new();
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync(_time, s => s[Option] = "3");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_fourth_new_id_is_refused_while_renewals_and_changes_pass_and_a_deregistration_frees_a_place()
    {
        using var refusals = new MetricCollector<long>(_host.App.Services.GetRequiredService<IMeterFactory>(), RegistryMeter.Name,
            "mesh.registry.instances.refused");
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        for (var i = 1; i <= 3; i++)
        {
            (await reviews.RegisterAsync("reviews", $"r{i}", $"http://127.0.0.1:{5000 + i}")).StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        var before = await reviews.GetJsonAsync("/v1/services/reviews/instances");
        using (var refused = await reviews.RegisterAsync("reviews", "r4", "http://127.0.0.1:5004"))
        {
            var problem = await refused.ProblemAsync(HttpStatusCode.Conflict);
            problem.ShouldContain("Too many instances");
            problem.ShouldContain("'reviews'");
            problem.ShouldContain(" 3 ");
            problem.ShouldContain(Option);
        }

        // Nothing was written: the same instances at the same index.
        var after = await reviews.GetJsonAsync("/v1/services/reviews/instances");
        after.Index().ShouldBe(before.Index());
        (await reviews.InstanceIdsAsync("reviews")).ShouldBe(["r1", "r2", "r3"]);

        // An existing id is never refused: a renewal, and a change.
        (await reviews.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await reviews.RegisterAsync("reviews", "r2", "http://127.0.0.1:5002", version: "v2")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Another service has a limit of its own.
        var ratings = _host.Client(RegistryHost.RatingsToken);
        for (var i = 1; i <= 3; i++)
        {
            (await ratings.RegisterAsync("ratings", $"t{i}", $"http://127.0.0.1:{6000 + i}")).StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        (await reviews.DeleteAsync(new Uri("/v1/services/reviews/instances/r3", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await reviews.RegisterAsync("reviews", "r4", "http://127.0.0.1:5004")).StatusCode.ShouldBe(HttpStatusCode.Created);
        await (await reviews.RegisterAsync("reviews", "r5", "http://127.0.0.1:5005")).ProblemAsync(HttpStatusCode.Conflict);
        (await reviews.InstanceIdsAsync("reviews")).ShouldBe(["r1", "r2", "r4"]);

        // Each refusal is counted for its service, for an operator to see a service at its limit.
        var counted = refusals.GetMeasurementSnapshot();
        counted.Select(m => (m.Value, m.Tags["service"])).ShouldBe([(1L, (object?)"reviews"), (1L, "reviews")]);
    }

    [Fact]
    public async Task Of_new_ids_registering_at_once_through_one_registry_only_the_limit_are_created()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            using var response = await reviews.RegisterAsync("reviews", $"r{i}", $"http://127.0.0.1:{5000 + i}");
            return response.StatusCode;
        }));

        answers.Count(a => a == HttpStatusCode.Created).ShouldBe(3);
        answers.Count(a => a == HttpStatusCode.Conflict).ShouldBe(17);
        (await reviews.InstanceIdsAsync("reviews")).Count.ShouldBe(3);
    }

    [Fact]
    public async Task The_same_new_id_registering_many_times_at_once_takes_one_place()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        for (var i = 1; i <= 2; i++)
        {
            (await reviews.RegisterAsync("reviews", $"r{i}", $"http://127.0.0.1:{5000 + i}")).StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        // One place is left, and every request is for the same id (a client's retries racing its first attempt).
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var response = await reviews.RegisterAsync("reviews", "r3", "http://127.0.0.1:5003");
            return response.StatusCode;
        }));

        answers.ShouldAllBe(a => a == HttpStatusCode.Created || a == HttpStatusCode.OK);
        (await reviews.InstanceIdsAsync("reviews")).ShouldBe(["r1", "r2", "r3"]);
    }

    [Fact]
    public async Task The_admin_token_is_held_to_the_same_limit()
    {
        var admin = _host.Admin;
        for (var i = 1; i <= 3; i++)
        {
            (await admin.RegisterAsync("reviews", $"r{i}", $"http://127.0.0.1:{5000 + i}")).StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        var problem = await (await admin.RegisterAsync("reviews", "r4", "http://127.0.0.1:5004")).ProblemAsync(HttpStatusCode.Conflict);
        problem.ShouldContain(Option);
    }

    [Fact]
    public async Task Instances_the_mass_expiry_guard_holds_take_places_and_their_owners_still_renew()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        for (var i = 1; i <= 3; i++)
        {
            (await reviews.RegisterAsync("reviews", $"r{i}", $"http://127.0.0.1:{5000 + i}", ttl: 10)).StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        // Every lease passes at once: the guard holds them, listed.
        _time.Advance(TimeSpan.FromSeconds(11));
        (await reviews.InstanceIdsAsync("reviews")).ShouldBe(["r1", "r2", "r3"]);
        await (await reviews.RegisterAsync("reviews", "r4", "http://127.0.0.1:5004", ttl: 10)).ProblemAsync(HttpStatusCode.Conflict);
        (await reviews.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", ttl: 10)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Expired_instances_free_their_places()
    {
        await using var host = await RegistryHost.StartAsync(_time, s =>
        {
            s[Option] = "3";
            s["MeshRegistry:MassExpiryThreshold"] = "1";
        });
        var reviews = host.Client(RegistryHost.ReviewsToken);
        for (var i = 1; i <= 3; i++)
        {
            (await reviews.RegisterAsync("reviews", $"r{i}", $"http://127.0.0.1:{5000 + i}", ttl: 10)).StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        _time.Advance(TimeSpan.FromSeconds(11));
        (await reviews.RegisterAsync("reviews", "r4", "http://127.0.0.1:5004", ttl: 10)).StatusCode.ShouldBe(HttpStatusCode.Created);

        // An id that expired comes back as a new one, and counts as one.
        (await reviews.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", ttl: 10)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await reviews.InstanceIdsAsync("reviews")).ShouldBe(["r1", "r4"]);
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
