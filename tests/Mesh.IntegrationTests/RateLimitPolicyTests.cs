using System.Net;
using System.Text;
using System.Text.Json;
using Mesh.AspNetCore.RateLimiting;
using Mesh.Client.Hosting;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Mesh.IntegrationTests;

/// <summary>A service's rate limits served by the registry in its policy: applied, replaced and removed without restart.</summary>
[Collection(nameof(ControlPlaneTests))]
public sealed class RateLimitPolicyTests
{
    [Fact]
    public async Task Rate_limits_in_the_registry_policy_apply_change_and_go_away_with_it()
    {
        await using var registry = await RegistryHost.StartAsync(services: ["reviews"]);
        await using var reviews = await registry.StartAppAsync("reviews", "v1", app => app.MapGet("/r", () => "5 stars"));
        var address = new Uri(reviews.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var middleware = reviews.Services.GetRequiredService<MeshRateLimitMiddleware>();
        var inbound = reviews.Services.GetRequiredService<MeshInbound>();
        using var caller = new HttpClient { BaseAddress = address }; // plaintext: Permissive serves it, unauthenticated

        // A window of an hour: no refill within the test, whatever the real clock does.
        static StringContent Policy(int? permits) => new(JsonSerializer.Serialize(permits is { } n
            ? new { RateLimits = new[] { new { Name = "reads", Paths = new[] { "/r" }, Limiter = "FixedWindow", PermitLimit = n, Window = "01:00:00" } } }
            : (object)new { }), Encoding.UTF8, "application/json");

        (await registry.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Policy(1))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(() => middleware.Table is { } t && t.Rules[0].LimiterKey == RateLimitRule.KeyOf(inbound.Model.RateLimitRules[0]),
            because: "the policy's rate limit reaches the app");
        (await caller.GetAsync(new Uri("/r", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
        using (var refused = await caller.GetAsync(new Uri("/r", UriKind.Relative)))
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
            refused.Headers.RetryAfter!.Delta!.Value.ShouldBeGreaterThan(TimeSpan.Zero);
        }

        // A bigger window: a new limiter, with its permits.
        (await registry.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Policy(2))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(() => middleware.Table is { } t && inbound.Model.RateLimitRules is [{ Limit: 2 } rule] && t.Rules[0].LimiterKey == RateLimitRule.KeyOf(rule),
            because: "the changed rate limit reaches the app");
        (await caller.GetAsync(new Uri("/r", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await caller.GetAsync(new Uri("/r", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await caller.GetAsync(new Uri("/r", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);

        // A policy without rate limits: nothing is limited.
        (await registry.Admin.PutAsync(new Uri("/v1/policies/reviews", UriKind.Relative), Policy(null))).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(() => middleware.Table is null, because: "the rate limit goes away with the policy's");
        for (var i = 0; i < 5; i++)
        {
            (await caller.GetAsync(new Uri("/r", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
    }
}
