using System.Net;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

public sealed class InstanceTests : IAsyncLifetime
{
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Register_renew_change_and_deregister()
    {
        var reviews = _host.Client(RegistryHost.ReviewsToken);

        long createdIndex;
        using (var created = await reviews.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001"))
        {
            created.StatusCode.ShouldBe(HttpStatusCode.Created);
            var record = await created.ReadJsonAsync();
            record.GetProperty("id").GetString().ShouldBe("r1");
            record.GetProperty("service").GetString().ShouldBe("reviews");
            record.GetProperty("address").GetString().ShouldBe("http://127.0.0.1:5001");
            record.GetProperty("version").GetString().ShouldBe("v1");
            record.GetProperty("ttlSeconds").GetInt32().ShouldBe(30);
            createdIndex = created.MeshIndex();
            createdIndex.ShouldBeGreaterThan(0);
        }

        // A renewal with the same registration moves the lease, not the index.
        using (var renewed = await reviews.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001"))
        {
            renewed.StatusCode.ShouldBe(HttpStatusCode.OK);
            renewed.MeshIndex().ShouldBe(createdIndex);
        }

        // A changed registration is a change.
        long changedIndex;
        using (var changed = await reviews.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", version: "v2"))
        {
            changed.StatusCode.ShouldBe(HttpStatusCode.OK);
            changedIndex = changed.MeshIndex();
            changedIndex.ShouldBeGreaterThan(createdIndex);
        }

        var addedIndex = await reviews.RegisterIndexAsync("reviews", "r2", "https://10.0.0.2:8443/");
        addedIndex.ShouldBeGreaterThan(changedIndex);
        var list = await reviews.GetJsonAsync("/v1/services/reviews/instances");
        list.Index().ShouldBe(addedIndex);
        list.GetProperty("instances").EnumerateArray().Select(i => (i.GetProperty("id").GetString(), i.GetProperty("address").GetString()))
            .ShouldBe([("r1", "http://127.0.0.1:5001"), ("r2", "https://10.0.0.2:8443")]);

        var services = await reviews.GetJsonAsync("/v1/services");
        services.Index().ShouldBe(addedIndex);
        var summary = services.GetProperty("services").EnumerateArray().Single();
        summary.GetProperty("name").GetString().ShouldBe("reviews");
        summary.GetProperty("instances").GetInt32().ShouldBe(2);
        summary.GetProperty("policyVersion").GetInt64().ShouldBe(0);

        using (var deleted = await reviews.DeleteAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative)))
        {
            deleted.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        }

        using (var again = await reviews.DeleteAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative)))
        {
            await again.ProblemAsync(HttpStatusCode.NotFound);
        }

        (await reviews.InstanceIdsAsync("reviews")).ShouldBe(["r2"]);
        (await reviews.GetJsonAsync("/v1/services/reviews/instances")).Index().ShouldBeGreaterThan(addedIndex);
    }

    [Fact]
    public async Task Service_names_are_case_insensitive()
    {
        var admin = _host.Admin;
        (await admin.RegisterAsync("Reviews", "r1", "http://127.0.0.1:5001")).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await admin.InstanceIdsAsync("REVIEWS")).ShouldBe(["r1"]);
        var reviews = _host.Client(RegistryHost.ReviewsToken);
        (await reviews.RegisterAsync("REVIEWS", "r1", "http://127.0.0.1:5001")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task An_invalid_registration_names_every_field_at_fault_and_changes_nothing()
    {
        var admin = _host.Admin;
        using var response = await admin.PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative), Api.Json("""
            { "address": "http://127.0.0.1:5001/api", "version": "v 1", "zone": "", "labels": { "ok": "x", "bad key": "y", "k": null }, "ttlSeconds": 0 }
            """));
        var body = await response.ProblemAsync(HttpStatusCode.BadRequest);
        var errors = (await response.ReadJsonAsync()).GetProperty("errors");
        errors.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList()
            .ShouldBe(["address", "labels", "labels.k", "ttlSeconds", "version", "zone"], customMessage: body);

        (await admin.InstanceIdsAsync("reviews")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Label_keys_that_differ_only_by_case_are_refused()
    {
        // Subsets match label keys ignoring case; two such keys would be one label read two ways by clients.
        using var response = await _host.Client(RegistryHost.ReviewsToken).PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative),
            Api.Json("""{ "address": "http://127.0.0.1:5001", "labels": { "zone": "a", "ZONE": "b" }, "ttlSeconds": 30 }"""));
        (await response.ProblemAsync(HttpStatusCode.BadRequest)).ShouldContain("letter case");
        (await _host.Admin.InstanceIdsAsync("reviews")).ShouldBeEmpty();
    }

    [Theory]
    [InlineData("ftp://127.0.0.1:21", "address")]
    [InlineData("127.0.0.1:5001", "address")]
    [InlineData("http://user:pw@127.0.0.1:5001", "address")]
    [InlineData("http://127.0.0.1:5001?x=1", "address")]
    [InlineData("/relative", "address")]
    public async Task Addresses_must_be_absolute_http_without_a_path(string address, string field)
    {
        using var response = await _host.Admin.PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative),
            Api.Json(Api.Registration(address)));
        await response.ProblemAsync(HttpStatusCode.BadRequest);
        (await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(3601)]
    public async Task The_ttl_must_be_sane(int ttl)
    {
        using var response = await _host.Admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001", ttl);
        await response.ProblemAsync(HttpStatusCode.BadRequest);
        (await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty("ttlSeconds", out _).ShouldBeTrue();
    }

    [Theory]
    [InlineData("bad%20name", "r1", "service")]
    [InlineData("reviews", "bad%20id", "id")]
    [InlineData("reviews", "0123456789012345678901234567890123456789012345678901234567890123", "id")]
    public async Task Names_and_ids_are_checked(string service, string id, string field)
    {
        using var response = await _host.Admin.RegisterAsync(service, id, "http://127.0.0.1:5001");
        await response.ProblemAsync(HttpStatusCode.BadRequest);
        (await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Wrong_json_types_name_the_field()
    {
        using var response = await _host.Admin.PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative),
            Api.Json("""{ "address": "http://127.0.0.1:5001", "ttlSeconds": "thirty" }"""));
        await response.ProblemAsync(HttpStatusCode.BadRequest);
        (await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty("ttlSeconds", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Oversized_registrations_are_refused()
    {
        var huge = Api.Registration("http://127.0.0.1:5001", labels: $$"""{ "big": "{{new string('x', 70_000)}}" }""");
        using var response = await _host.Admin.PutAsync(new Uri("/v1/services/reviews/instances/r1", UriKind.Relative), Api.Json(huge));
        await response.ProblemAsync(HttpStatusCode.RequestEntityTooLarge);
        (await _host.Admin.InstanceIdsAsync("reviews")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Healthz_answers_without_a_token()
    {
        using var client = new HttpClient { BaseAddress = _host.Address };
        using var response = await client.GetAsync(new Uri("/healthz", UriKind.Relative));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
