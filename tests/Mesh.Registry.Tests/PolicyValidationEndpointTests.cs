using System.Net;
using System.Text.Json;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

public sealed class PolicyValidationEndpointTests : IAsyncLifetime
{
    private RegistryHost _host = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync();
        _client = _host.Client(RegistryHost.ReviewsToken);
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private Task<HttpResponseMessage> ValidateAsync(string service, string body) =>
        _client.PostAsync(new Uri($"/v1/policies/{service}/validate", UriKind.Relative), Api.Json(body));

    [Fact]
    public async Task A_valid_policy_passes()
    {
        using var response = await ValidateAsync("reviews", """
            { "Subsets": { "v1": { "version": "v1" }, "v2": { "version": "v2" } },
              "Routes": [ { "Destinations": [ { "Subset": "v1", "Weight": 50 }, { "Subset": "v2", "Weight": 50 } ] } ] }
            """);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_document_as_large_as_a_policy_may_be_is_read_whole()
    {
        // 19,500 routes fill the 256 KiB a document may have. Any caller may ask for a validation, so reading costs time
        // in proportion to a document's size (PolicyReadBenchmarks shows the in-memory provider's square); here every
        // route is read, the last one's name checked against all the others.
        const int routes = 19_500;
        var body = "{\"Routes\":[" + string.Join(',', Enumerable.Repeat("""{"Name":"a"}""", routes)) + "]}";
        using var response = await ValidateAsync("reviews", body);

        var problem = await response.ProblemAsync(HttpStatusCode.BadRequest);
        using var doc = JsonDocument.Parse(problem);
        var errors = doc.RootElement.GetProperty("errors");
        errors.GetProperty($"Routes:{routes - 1}:Name")[0].GetString().ShouldBe("'a' is used by an earlier route");
        errors.TryGetProperty("Routes:0:Name", out _).ShouldBeFalse();
    }

    [Fact]
    public async Task An_invalid_policy_is_a_problem_listing_every_error_by_path()
    {
        using var response = await ValidateAsync("reviews", """
            { "Subsets": { "v1": { "version": "v1" } },
              "LoadBalancer": { "Policy": "Fastest" },
              "Routes": [ { "Destinations": [ { "Subset": "v1", "Weight": 90 }, { "Subset": "v9", "Weight": 20 } ] } ] }
            """);
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var errors = problem.RootElement.GetProperty("errors");
        errors.GetProperty("Routes:0:Destinations")[0].GetString().ShouldBe("weights sum to 110, must be 100");
        errors.GetProperty("Routes:0:Destinations:1:Subset")[0].GetString()!.ShouldStartWith("unknown subset 'v9'");
        errors.GetProperty("LoadBalancer:Policy")[0].GetString()!.ShouldStartWith("'Fastest' is not one of");
    }

    [Fact]
    public async Task Authorization_rules_in_a_policy_are_validated_with_their_paths()
    {
        using (var good = await ValidateAsync("reviews", """{ "Authorization": [ { "Action": "Allow", "From": [ "productpage" ], "Paths": [ "/reviews/*" ], "Methods": [ "GET" ] } ] }"""))
        {
            good.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        using var bad = await ValidateAsync("reviews", """{ "Authorization": [ { "Action": "Deny" }, { "Action": "Maybe", "From": [ "a b" ], "Paths": [ "x" ] } ] }""");
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var problem = JsonDocument.Parse(await bad.Content.ReadAsStringAsync());
        var errors = problem.RootElement.GetProperty("errors");
        errors.TryGetProperty("Authorization:1:Action", out _).ShouldBeTrue(problem.RootElement.GetRawText());
        errors.GetProperty("Authorization:1:From:0")[0].GetString()!.ShouldContain("'a b'");
        errors.GetProperty("Authorization:1:Paths:0")[0].GetString()!.ShouldContain("must start with '/'");
    }

    [Fact]
    public async Task ConnectionPool_limits_and_PerAttempt_faults_in_a_policy_are_validated_with_their_paths()
    {
        using (var good = await ValidateAsync("reviews", """
            { "ConnectionPool": { "MaxRequests": 100, "MaxPendingRequests": 10 },
              "Routes": [ { "Fault": { "Abort": { "Percentage": 30, "HttpStatus": 503 }, "PerAttempt": true } } ] }
            """))
        {
            good.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        using var bad = await ValidateAsync("reviews", """
            { "ConnectionPool": { "MaxPendingRequests": -1, "Max": 3 }, "Routes": [ { "Fault": { "PerAttempt": "often" } } ] }
            """);
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var problem = JsonDocument.Parse(await bad.Content.ReadAsStringAsync());
        var errors = problem.RootElement.GetProperty("errors");
        var pending = errors.GetProperty("ConnectionPool:MaxPendingRequests").EnumerateArray().Select(e => e.GetString()).ToList();
        pending.ShouldContain("-1 must not be negative");
        pending.ShouldContain(e => e!.StartsWith("requires MaxRequests", StringComparison.Ordinal));
        errors.GetProperty("ConnectionPool:Max")[0].GetString()!.ShouldStartWith("unknown setting 'Max'");
        errors.GetProperty("Routes:0:Fault:PerAttempt")[0].GetString().ShouldBe("'often' is not true or false");
    }

    [Fact]
    public async Task Rate_limits_in_a_policy_are_validated_with_their_paths()
    {
        using (var good = await ValidateAsync("reviews", """
            { "RateLimits": [ { "Name": "writes", "From": [ "productpage" ], "Paths": [ "/reviews/*" ], "Methods": [ "POST" ],
                                "Limiter": "TokenBucket", "TokenLimit": 10, "TokensPerPeriod": 2, "ReplenishmentPeriod": "00:00:01", "PerCaller": true } ] }
            """))
        {
            good.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        using var bad = await ValidateAsync("reviews", """
            { "RateLimits": [ { "Name": "w", "Limiter": "FixedWindow", "PermitLimit": 0, "Window": "00:00:01", "TokenLimit": 3, "Burst": 1 } ] }
            """);
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var problem = JsonDocument.Parse(await bad.Content.ReadAsStringAsync());
        var errors = problem.RootElement.GetProperty("errors");
        errors.GetProperty("RateLimits:0:PermitLimit")[0].GetString().ShouldBe("0 must be between 1 and 1000000");
        errors.GetProperty("RateLimits:0:TokenLimit")[0].GetString().ShouldBe("not a setting of a FixedWindow limiter");
        errors.GetProperty("RateLimits:0:Burst")[0].GetString()!.ShouldStartWith("unknown setting 'Burst'");
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("[]")]
    [InlineData("")]
    [InlineData("{ \"Routes\": [ { \"Retry\": { \"Attempts\": { \"deep\": [1, 2] } } } ] }")]
    public async Task Malformed_bodies_are_400_never_500(string body)
    {
        using var response = await ValidateAsync("reviews", body);
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Oversized_bodies_are_refused()
    {
        var huge = "{ \"Subsets\": { " + string.Join(", ", Enumerable.Range(0, 20_000).Select(i => $"\"s{i}\": {{ \"version\": \"v{i}\" }}")) + " } }";
        using var response = await ValidateAsync("reviews", huge);
        response.StatusCode.ShouldBe(HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task A_bad_service_name_is_refused()
    {
        using var response = await ValidateAsync("not%20valid", "{}");
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }
}
