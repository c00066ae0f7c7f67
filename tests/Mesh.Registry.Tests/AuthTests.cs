using System.Net;
using System.Net.Http.Headers;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

public sealed class AuthTests : IAsyncLifetime
{
    private const string Policy = """{ "LoadBalancer": { "Policy": "RoundRobin" } }""";
    private RegistryHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync();
        var admin = _host.Admin;
        (await admin.RegisterAsync("reviews", "r1", "http://127.0.0.1:5001")).EnsureSuccessStatusCode();
        (await admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Api.Json(Policy))).EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    public static TheoryData<string, string, string?> Writes() => new()
    {
        { "PUT", "/v1/services/reviews/instances/r9", Api.Registration("http://127.0.0.1:5009") },
        { "PUT", "/v1/services/ratings/instances/x1", Api.Registration("http://127.0.0.1:6001") },
        { "DELETE", "/v1/services/reviews/instances/r1", null },
        { "PUT", "/v1/policies/reviews", """{ "LoadBalancer": { "Policy": "Random" } }""" },
        { "DELETE", "/v1/policies/reviews", null },
        { "POST", "/v1/policies/reviews/rollback?version=1", null },
    };

    public static TheoryData<string> Reads() =>
        ["/v1/services", "/v1/services/reviews/instances", "/v1/policies/reviews", "/v1/policies/reviews/history"];

    private async Task<HttpResponseMessage> SendAsync(string method, string path, string? body, Action<HttpRequestHeaders> auth)
    {
        using var client = new HttpClient { BaseAddress = _host.Address };
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = Api.Json(body);
        }

        auth(request.Headers);
        return await client.SendAsync(request);
    }

    private static Action<HttpRequestHeaders> Bearer(string token) => h => h.Authorization = new AuthenticationHeaderValue("Bearer", token);

    /// <summary>The whole visible state, to show that a refused call changed nothing.</summary>
    private async Task<string> SnapshotAsync()
    {
        var admin = _host.Admin;
        var services = (await admin.GetJsonAsync("/v1/services")).GetRawText();
        var reviews = (await admin.GetJsonAsync("/v1/services/reviews/instances")).GetRawText();
        var ratings = (await admin.GetJsonAsync("/v1/services/ratings/instances")).GetRawText();
        var policy = (await admin.GetJsonAsync("/v1/policies/reviews")).GetRawText();
        var history = (await admin.GetJsonAsync("/v1/policies/reviews/history")).GetRawText();
        return string.Join('\n', services, reviews, ratings, policy, history);
    }

    [Theory]
    [MemberData(nameof(Writes))]
    public async Task Writes_without_a_token_are_401_and_change_nothing(string method, string path, string? body)
    {
        var before = await SnapshotAsync();
        using var response = await SendAsync(method, path, body, _ => { });
        await response.ProblemAsync(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.ToString().ShouldBe("Bearer");
        (await SnapshotAsync()).ShouldBe(before);
    }

    [Theory]
    [MemberData(nameof(Writes))]
    public async Task Writes_with_a_wrong_token_are_401_and_change_nothing(string method, string path, string? body)
    {
        var before = await SnapshotAsync();
        using (var wrong = await SendAsync(method, path, body, Bearer("not-a-token")))
        {
            await wrong.ProblemAsync(HttpStatusCode.Unauthorized);
            wrong.Headers.WwwAuthenticate.ToString().ShouldContain("invalid_token");
        }

        using (var basic = await SendAsync(method, path, body, h => h.Authorization = new AuthenticationHeaderValue("Basic", RegistryHost.AdminToken)))
        {
            await basic.ProblemAsync(HttpStatusCode.Unauthorized);
        }

        (await SnapshotAsync()).ShouldBe(before);
    }

    [Theory]
    [MemberData(nameof(Reads))]
    public async Task Reads_need_a_valid_token_and_any_will_do(string path)
    {
        using (var none = await SendAsync("GET", path, null, _ => { }))
        {
            await none.ProblemAsync(HttpStatusCode.Unauthorized);
        }

        using (var wrong = await SendAsync("GET", path, null, Bearer("nope")))
        {
            await wrong.ProblemAsync(HttpStatusCode.Unauthorized);
        }

        foreach (var token in new[] { RegistryHost.AdminToken, RegistryHost.ReviewsToken, RegistryHost.RatingsToken })
        {
            using var ok = await SendAsync("GET", path, null, Bearer(token));
            ok.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task Another_services_join_token_is_403_and_changes_nothing()
    {
        var before = await SnapshotAsync();

        // A join token for reviews cannot register as ratings, nor touch ratings' instances.
        using (var register = await SendAsync("PUT", "/v1/services/ratings/instances/x1", Api.Registration("http://127.0.0.1:6001"), Bearer(RegistryHost.ReviewsToken)))
        {
            var body = await register.ProblemAsync(HttpStatusCode.Forbidden);
            body.ShouldContain("reviews");
        }

        // Nor can ratings' token register or deregister a reviews instance.
        using (var register = await SendAsync("PUT", "/v1/services/reviews/instances/r9", Api.Registration("http://127.0.0.1:5009"), Bearer(RegistryHost.RatingsToken)))
        {
            await register.ProblemAsync(HttpStatusCode.Forbidden);
        }

        using (var deregister = await SendAsync("DELETE", "/v1/services/reviews/instances/r1", null, Bearer(RegistryHost.RatingsToken)))
        {
            await deregister.ProblemAsync(HttpStatusCode.Forbidden);
        }

        (await SnapshotAsync()).ShouldBe(before);
    }

    [Theory]
    [InlineData("PUT", "/v1/policies/reviews")]
    [InlineData("DELETE", "/v1/policies/reviews")]
    [InlineData("POST", "/v1/policies/reviews/rollback?version=1")]
    public async Task A_join_token_on_a_policy_write_is_403_and_changes_nothing(string method, string path)
    {
        var before = await SnapshotAsync();
        using var response = await SendAsync(method, path, method == "PUT" ? """{ "LoadBalancer": { "Policy": "Random" } }""" : null,
            Bearer(RegistryHost.ReviewsToken));
        await response.ProblemAsync(HttpStatusCode.Forbidden);
        (await SnapshotAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task A_join_token_manages_its_own_service_and_the_admin_token_any()
    {
        using (var own = await SendAsync("PUT", "/v1/services/reviews/instances/r2", Api.Registration("http://127.0.0.1:5002"), Bearer(RegistryHost.ReviewsToken)))
        {
            own.StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        using (var admin = await SendAsync("PUT", "/v1/services/ratings/instances/x1", Api.Registration("http://127.0.0.1:6001"), Bearer(RegistryHost.AdminToken)))
        {
            admin.StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        using (var validate = await SendAsync("POST", "/v1/policies/reviews/validate", Policy, Bearer(RegistryHost.RatingsToken)))
        {
            validate.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task Tokens_never_reach_the_logs()
    {
        (await SendAsync("PUT", "/v1/services/ratings/instances/x1", Api.Registration("http://127.0.0.1:6001"), Bearer(RegistryHost.ReviewsToken))).Dispose();
        (await SendAsync("PUT", "/v1/policies/reviews", Policy, Bearer("a-wrong-token-that-must-not-be-logged"))).Dispose();
        (await SendAsync("PUT", "/v1/services/reviews/instances/r3", Api.Registration("http://127.0.0.1:5003"), Bearer(RegistryHost.ReviewsToken))).Dispose();
        await _host.App.StopAsync();

        var logs = _host.Logs.AllText();
        logs.ShouldNotBeEmpty();
        foreach (var secret in new[] { RegistryHost.AdminToken, RegistryHost.ReviewsToken, RegistryHost.RatingsToken, "a-wrong-token-that-must-not-be-logged" })
        {
            logs.ShouldNotContain(secret);
        }
    }

    [Fact]
    public async Task Two_services_sharing_a_join_token_fail_the_start()
    {
        var errors = await RegistryHost.StartupErrorsAsync(new Dictionary<string, string?>
        {
            ["MeshRegistry:JoinTokens:reviews"] = "shared-secret-xyz",
            ["MeshRegistry:JoinTokens:ratings"] = "shared-secret-xyz",
            ["MeshRegistry:MassExpiryThreshold"] = "1.5",
        });
        errors.ShouldContain("MeshRegistry:JoinTokens:ratings");
        errors.ShouldContain("MeshRegistry:MassExpiryThreshold");
        errors.ShouldNotContain("shared-secret-xyz");
    }
}
