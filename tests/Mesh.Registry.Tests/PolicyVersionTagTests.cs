using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>Optimistic concurrency for policy writes: <c>ETag: "&lt;version&gt;"</c> out, <c>If-Match</c> in, 412 when another write came first.</summary>
public sealed class PolicyVersionTagTests : IAsyncLifetime
{
    private RegistryHost _host = null!;
    private HttpClient _admin = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync();
        _admin = _host.Admin;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    /// <summary>A valid policy that sends <paramref name="v2Weight"/> percent to v2: distinct documents for distinct weights.</summary>
    private static string Policy(int v2Weight) => $$"""
        { "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
          "Routes": [ { "Name": "default", "Destinations": [ { "Subset": "v1", "Weight": {{100 - v2Weight}} }, { "Subset": "v2", "Weight": {{v2Weight}} } ] } ] }
        """;

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? ifMatch, string? body = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = Api.Json(body);
        }

        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        return await _admin.SendAsync(request);
    }

    private Task<HttpResponseMessage> PutAsync(string body, string? ifMatch = null) => SendAsync(HttpMethod.Put, "/v1/policies/reviews", ifMatch, body);

    private static string? ETag(HttpResponseMessage response) => response.Headers.ETag?.ToString();

    private async Task<(long Version, string Document)> CurrentAsync()
    {
        var policy = await _admin.GetJsonAsync("/v1/policies/reviews");
        return (policy.GetProperty("version").GetInt64(), policy.GetProperty("document").GetRawText());
    }

    private static string Canonical(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return JsonSerializer.Serialize(doc.RootElement);
    }

    [Fact]
    public async Task Reads_and_writes_answer_the_policy_version_as_a_strong_ETag()
    {
        using (var none = await _admin.GetAsync(new Uri("/v1/policies/reviews", UriKind.Relative)))
        {
            none.Headers.ETag.ShouldBe(new EntityTagHeaderValue("\"0\""));
        }

        using (var put = await PutAsync(Policy(10)))
        {
            put.StatusCode.ShouldBe(HttpStatusCode.OK);
            ETag(put).ShouldBe("\"1\"");
        }

        using var get = await _admin.GetAsync(new Uri("/v1/policies/reviews", UriKind.Relative));
        get.Headers.ETag.ShouldBe(new EntityTagHeaderValue("\"1\""));
        get.Headers.ETag!.IsWeak.ShouldBeFalse();
    }

    [Fact]
    public async Task A_put_whose_If_Match_names_the_current_version_is_stored()
    {
        (await PutAsync(Policy(10))).Dispose();
        using var response = await PutAsync(Policy(20), ifMatch: "\"1\"");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        ETag(response).ShouldBe("\"2\"");
        (await response.ReadJsonAsync()).GetProperty("version").GetInt64().ShouldBe(2);
        (await CurrentAsync()).ShouldBe((2, Canonical(Policy(20))));
    }

    [Fact]
    public async Task A_put_whose_If_Match_names_an_older_version_is_412_and_stores_nothing()
    {
        (await PutAsync(Policy(10))).Dispose();
        (await PutAsync(Policy(20))).Dispose();

        using var response = await PutAsync(Policy(30), ifMatch: "\"1\"");
        var problem = await response.ProblemAsync(HttpStatusCode.PreconditionFailed);
        problem.ShouldContain("version 2, not 1");
        ETag(response).ShouldBe("\"2\"");
        using (var doc = JsonDocument.Parse(problem))
        {
            doc.RootElement.GetProperty("currentVersion").GetInt64().ShouldBe(2);
        }

        (await CurrentAsync()).ShouldBe((2, Canonical(Policy(20))));
        (await _admin.GetJsonAsync("/v1/policies/reviews/history")).GetProperty("versions").GetArrayLength().ShouldBe(2);
    }

    [Fact]
    public async Task If_Match_0_writes_only_where_the_service_never_had_a_policy()
    {
        using (var first = await PutAsync(Policy(10), ifMatch: "\"0\""))
        {
            first.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        using var second = await PutAsync(Policy(20), ifMatch: "\"0\"");
        await second.ProblemAsync(HttpStatusCode.PreconditionFailed);
        (await CurrentAsync()).ShouldBe((1, Canonical(Policy(10))));
    }

    [Fact]
    public async Task A_stale_If_Match_is_refused_even_when_the_document_is_the_current_one()
    {
        (await PutAsync(Policy(10))).Dispose();
        (await PutAsync(Policy(20))).Dispose();

        // The writer read version 1; that its document happens to equal version 2's does not make its read current.
        using var response = await PutAsync(Policy(20), ifMatch: "\"1\"");
        await response.ProblemAsync(HttpStatusCode.PreconditionFailed);
    }

    [Fact]
    public async Task Of_writers_that_read_the_same_version_exactly_one_wins()
    {
        (await PutAsync(Policy(10))).Dispose();

        const int writers = 8;
        using var start = new SemaphoreSlim(0, writers);
        var puts = Enumerable.Range(1, writers).Select(async w =>
        {
            await start.WaitAsync();
            using var response = await PutAsync(Policy(10 + w), ifMatch: "\"1\"");
            return (Writer: w, response.StatusCode, ETag: ETag(response));
        }).ToList();
        start.Release(writers);
        var answers = await Task.WhenAll(puts);

        var winners = answers.Where(a => a.StatusCode == HttpStatusCode.OK).ToList();
        winners.Count.ShouldBe(1, string.Join(", ", answers.Select(a => $"{a.Writer}: {(int)a.StatusCode}")));
        answers.Count(a => a.StatusCode == HttpStatusCode.PreconditionFailed).ShouldBe(writers - 1);
        answers.ShouldAllBe(a => a.ETag == "\"2\"");
        (await CurrentAsync()).ShouldBe((2, Canonical(Policy(10 + winners[0].Writer))));
        (await _admin.GetJsonAsync("/v1/policies/reviews/history")).GetProperty("versions").GetArrayLength().ShouldBe(2);
    }

    [Fact]
    public async Task Delete_and_rollback_honour_If_Match_too()
    {
        (await PutAsync(Policy(10))).Dispose();
        (await PutAsync(Policy(20))).Dispose();

        using (var delete = await SendAsync(HttpMethod.Delete, "/v1/policies/reviews", "\"1\""))
        {
            await delete.ProblemAsync(HttpStatusCode.PreconditionFailed);
        }

        using (var rollback = await SendAsync(HttpMethod.Post, "/v1/policies/reviews/rollback?version=1", "\"1\""))
        {
            await rollback.ProblemAsync(HttpStatusCode.PreconditionFailed);
        }

        (await CurrentAsync()).ShouldBe((2, Canonical(Policy(20))));

        using (var rollback = await SendAsync(HttpMethod.Post, "/v1/policies/reviews/rollback?version=1", "\"2\""))
        {
            rollback.StatusCode.ShouldBe(HttpStatusCode.OK);
            ETag(rollback).ShouldBe("\"3\"");
        }

        using var deleted = await SendAsync(HttpMethod.Delete, "/v1/policies/reviews", "\"3\"");
        deleted.StatusCode.ShouldBe(HttpStatusCode.OK);
        ETag(deleted).ShouldBe("\"4\"");
    }

    [Theory]
    [InlineData("W/\"1\"")]
    [InlineData("*")]
    [InlineData("1")]
    [InlineData("\"1\", \"2\"")]
    [InlineData("\"v1\"")]
    [InlineData("\"-1\"")]
    public async Task An_If_Match_that_is_not_one_version_tag_is_a_400_naming_the_header(string ifMatch)
    {
        (await PutAsync(Policy(10))).Dispose();
        using var response = await PutAsync(Policy(20), ifMatch);
        var problem = await response.ProblemAsync(HttpStatusCode.BadRequest);
        using var doc = JsonDocument.Parse(problem);
        doc.RootElement.GetProperty("errors").GetProperty("If-Match")[0].GetString()!.ShouldContain("entity tag");
        (await CurrentAsync()).Version.ShouldBe(1);
    }
}
