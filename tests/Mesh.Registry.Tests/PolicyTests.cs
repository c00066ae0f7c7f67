using System.Net;
using System.Text.Json;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

public sealed class PolicyTests : IAsyncLifetime
{
    private const string V1 = """
        { "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
          "Routes": [ { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": 100 } ] } ] }
        """;

    private const string V2 = """
        { "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
          "Routes": [ { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": 50 }, { "Subset": "v2", "Weight": 50 } ] } ] }
        """;

    private const string Invalid = """
        { "Subsets": { "v1": { "version": "v1" } },
          "LoadBalancer": { "Policy": "Fastest" },
          "Routes": [
            { "Name": "ok", "Destinations": [ { "Subset": "v1", "Weight": 100 } ] },
            { "Name": "bad", "Destinations": [ { "Subset": "v1", "Weight": 90 }, { "Subset": "v9", "Weight": 20 } ],
              "Retry": { "Attempts": -1 } } ] }
        """;

    private RegistryHost _host = null!;
    private HttpClient _admin = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync();
        _admin = _host.Admin;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<HttpResponseMessage> PutAsync(string body, string service = "reviews") =>
        await _admin.PutAsync(new Uri($"/v1/policies/{service}", UriKind.Relative), Api.Json(body));

    private static string Canonical(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return JsonSerializer.Serialize(doc.RootElement);
    }

    [Fact]
    public async Task A_service_without_a_policy_has_version_0_and_a_null_document()
    {
        using var response = await _admin.GetAsync(new Uri("/v1/policies/reviews", UriKind.Relative));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await response.Content.ReadAsStringAsync();
        body.ShouldContain("\"document\":null");
        var policy = await response.ReadJsonAsync();
        policy.GetProperty("version").GetInt64().ShouldBe(0);
        policy.Index().ShouldBe(0);
        policy.GetProperty("service").GetString().ShouldBe("reviews");
    }

    [Fact]
    public async Task A_valid_policy_becomes_version_1()
    {
        using var response = await PutAsync(V1);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var put = await response.ReadJsonAsync();
        put.GetProperty("version").GetInt64().ShouldBe(1);
        var index = response.MeshIndex();
        index.ShouldBeGreaterThan(0);
        put.Index().ShouldBe(index);

        var policy = await _admin.GetJsonAsync("/v1/policies/reviews");
        policy.GetProperty("version").GetInt64().ShouldBe(1);
        policy.Index().ShouldBe(index);
        policy.GetProperty("document").GetRawText().ShouldBe(Canonical(V1));
        policy.GetProperty("updatedAt").GetDateTimeOffset().ShouldBeGreaterThan(DateTimeOffset.UnixEpoch);

        // The same document again changes nothing.
        using var again = await PutAsync(V1);
        (await again.ReadJsonAsync()).GetProperty("version").GetInt64().ShouldBe(1);
        again.MeshIndex().ShouldBe(index);
        (await _admin.GetJsonAsync("/v1/services")).GetProperty("services")[0].GetProperty("policyVersion").GetInt64().ShouldBe(1);
    }

    [Fact]
    public async Task A_section_copied_from_appsettings_with_comments_and_trailing_commas_is_accepted()
    {
        // appsettings.json allows both, and a policy document is that file's service section.
        const string Copied = """
            { "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" }, },
              // the canary
              "Routes": [ { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": 100 }, ] }, ], }
            """;
        using var response = await PutAsync(Copied);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        (await _admin.GetJsonAsync("/v1/policies/reviews")).GetProperty("document").GetRawText().ShouldBe(Canonical(V1));
    }

    [Fact]
    public async Task An_invalid_policy_is_400_with_every_error_path_and_the_old_policy_stays()
    {
        (await PutAsync(V1)).Dispose();

        using var response = await PutAsync(Invalid);
        var body = await response.ProblemAsync(HttpStatusCode.BadRequest);
        var errors = (await response.ReadJsonAsync()).GetProperty("errors");
        errors.GetProperty("Routes:1:Destinations")[0].GetString().ShouldBe("weights sum to 110, must be 100", body);
        errors.GetProperty("Routes:1:Destinations:1:Subset")[0].GetString()!.ShouldStartWith("unknown subset 'v9'");
        errors.GetProperty("LoadBalancer:Policy")[0].GetString()!.ShouldStartWith("'Fastest' is not one of");
        errors.EnumerateObject().Any(p => p.Name.StartsWith("Routes:1:Retry", StringComparison.Ordinal)).ShouldBeTrue(body);

        var policy = await _admin.GetJsonAsync("/v1/policies/reviews");
        policy.GetProperty("version").GetInt64().ShouldBe(1);
        policy.GetProperty("document").GetRawText().ShouldBe(Canonical(V1));
        (await _admin.GetJsonAsync("/v1/policies/reviews/history")).GetProperty("versions").GetArrayLength().ShouldBe(1);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("[]")]
    [InlineData("")]
    [InlineData("null")]
    public async Task Malformed_policies_are_400(string body)
    {
        using var response = await PutAsync(body);
        await response.ProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task History_is_newest_first_and_rollback_restores_a_version_as_a_new_one()
    {
        (await PutAsync(V1)).Dispose();
        (await PutAsync(V2)).Dispose();

        var history = await _admin.GetJsonAsync("/v1/policies/reviews/history");
        history.GetProperty("service").GetString().ShouldBe("reviews");
        var versions = history.GetProperty("versions").EnumerateArray().ToList();
        versions.Select(v => v.GetProperty("version").GetInt64()).ShouldBe([2, 1]);
        versions[0].GetProperty("document").GetRawText().ShouldBe(Canonical(V2));
        versions[1].GetProperty("document").GetRawText().ShouldBe(Canonical(V1));

        using (var rollback = await _admin.PostAsync(new Uri("/v1/policies/reviews/rollback?version=1", UriKind.Relative), null))
        {
            rollback.StatusCode.ShouldBe(HttpStatusCode.OK);
            var policy = await rollback.ReadJsonAsync();
            policy.GetProperty("version").GetInt64().ShouldBe(3);
            policy.GetProperty("document").GetRawText().ShouldBe(Canonical(V1));
        }

        var current = await _admin.GetJsonAsync("/v1/policies/reviews");
        current.GetProperty("version").GetInt64().ShouldBe(3);
        current.GetProperty("document").GetRawText().ShouldBe(Canonical(V1));

        history = await _admin.GetJsonAsync("/v1/policies/reviews/history");
        versions = [.. history.GetProperty("versions").EnumerateArray()];
        versions.Select(v => v.GetProperty("version").GetInt64()).ShouldBe([3, 2, 1]);
        versions[0].GetProperty("rollbackOf").GetInt64().ShouldBe(1);

        (await _admin.GetJsonAsync("/v1/policies/reviews/history?limit=1")).GetProperty("versions").GetArrayLength().ShouldBe(1);
    }

    [Theory]
    [InlineData("", HttpStatusCode.BadRequest)]
    [InlineData("?version=abc", HttpStatusCode.BadRequest)]
    [InlineData("?version=0", HttpStatusCode.BadRequest)]
    [InlineData("?version=7", HttpStatusCode.NotFound)]
    public async Task A_rollback_needs_an_existing_version(string query, HttpStatusCode expected)
    {
        (await PutAsync(V1)).Dispose();
        using var response = await _admin.PostAsync(new Uri("/v1/policies/reviews/rollback" + query, UriKind.Relative), null);
        await response.ProblemAsync(expected);
        if (expected == HttpStatusCode.BadRequest)
        {
            (await response.ReadJsonAsync()).GetProperty("errors").TryGetProperty("version", out _).ShouldBeTrue();
        }

        (await _admin.GetJsonAsync("/v1/policies/reviews")).GetProperty("version").GetInt64().ShouldBe(1);
    }

    [Fact]
    public async Task Delete_records_a_deletion_and_leaves_no_document()
    {
        long written;
        using (var put = await PutAsync(V1))
        {
            put.StatusCode.ShouldBe(HttpStatusCode.OK);
            written = put.MeshIndex();
        }

        long deletion;
        using (var deleted = await _admin.DeleteAsync(new Uri("/v1/policies/reviews", UriKind.Relative)))
        {
            deleted.StatusCode.ShouldBe(HttpStatusCode.OK);
            var policy = await deleted.ReadJsonAsync();
            policy.GetProperty("version").GetInt64().ShouldBe(2);
            policy.GetProperty("document").ValueKind.ShouldBe(JsonValueKind.Null);
            deletion = policy.Index();
            deletion.ShouldBeGreaterThan(written);
        }

        var current = await _admin.GetJsonAsync("/v1/policies/reviews");
        current.GetProperty("document").ValueKind.ShouldBe(JsonValueKind.Null);
        current.Index().ShouldBe(deletion);
        (await _admin.GetJsonAsync("/v1/services")).GetProperty("services").GetArrayLength().ShouldBe(0);

        using (var again = await _admin.DeleteAsync(new Uri("/v1/policies/reviews", UriKind.Relative)))
        {
            await again.ProblemAsync(HttpStatusCode.NotFound);
        }

        // A deletion is not a document to roll back to; the version before it is.
        using (var toDeletion = await _admin.PostAsync(new Uri("/v1/policies/reviews/rollback?version=2", UriKind.Relative), null))
        {
            await toDeletion.ProblemAsync(HttpStatusCode.BadRequest);
        }

        using (var back = await _admin.PostAsync(new Uri("/v1/policies/reviews/rollback?version=1", UriKind.Relative), null))
        {
            back.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await back.ReadJsonAsync()).GetProperty("version").GetInt64().ShouldBe(3);
        }

        var history = await _admin.GetJsonAsync("/v1/policies/reviews/history");
        history.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("document").ValueKind)
            .ShouldBe([JsonValueKind.Object, JsonValueKind.Null, JsonValueKind.Object]);
    }

    [Fact]
    public async Task Validate_is_a_dry_run()
    {
        using (var ok = await _admin.PostAsync(new Uri("/v1/policies/reviews/validate", UriKind.Relative), Api.Json(V1)))
        {
            ok.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await ok.ReadJsonAsync()).GetProperty("valid").GetBoolean().ShouldBeTrue();
        }

        using (var bad = await _admin.PostAsync(new Uri("/v1/policies/reviews/validate", UriKind.Relative), Api.Json(Invalid)))
        {
            await bad.ProblemAsync(HttpStatusCode.BadRequest);
            (await bad.ReadJsonAsync()).GetProperty("errors").TryGetProperty("Routes:1:Destinations", out _).ShouldBeTrue();
        }

        (await _admin.GetJsonAsync("/v1/policies/reviews")).GetProperty("version").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task Oversized_policies_are_refused()
    {
        var huge = "{ \"Subsets\": { " + string.Join(", ", Enumerable.Range(0, 20_000).Select(i => $"\"s{i}\": {{ \"version\": \"v{i}\" }}")) + " } }";
        using var response = await PutAsync(huge);
        await response.ProblemAsync(HttpStatusCode.RequestEntityTooLarge);
        (await _admin.GetJsonAsync("/v1/policies/reviews")).GetProperty("version").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task Policies_survive_a_restart()
    {
        (await PutAsync(V1)).Dispose();
        long written;
        using (var put = await PutAsync(V2))
        {
            put.StatusCode.ShouldBe(HttpStatusCode.OK);
            written = put.MeshIndex();
        }

        await _host.RestartAsync();
        var admin = _host.Admin;
        var policy = await admin.GetJsonAsync("/v1/policies/reviews");
        policy.GetProperty("version").GetInt64().ShouldBe(2);
        policy.Index().ShouldBe(written);
        policy.GetProperty("document").GetRawText().ShouldBe(Canonical(V2));
        (await admin.GetJsonAsync("/v1/policies/reviews/history")).GetProperty("versions").GetArrayLength().ShouldBe(2);

        // The index carries on from where it was.
        using var next = await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json(V1));
        (await next.ReadJsonAsync()).Index().ShouldBeGreaterThan(written);
    }
}
