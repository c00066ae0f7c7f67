using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Testing;

namespace Mesh.IntegrationTests.Observability;

/// <summary>
/// The log lines of an authorization denial or a rate-limit refusal carry the request path, which the caller writes
/// and the server decodes (<c>%0A</c> is a newline, <c>%1B</c> an escape). They are written as the access log writes
/// it, escaped, so a caller that is refused cannot forge a log line or drive an operator's terminal either.
/// </summary>
public sealed class RefusalLogTests
{
    private const string Forging = "/fake%0A[2026-01-01T00:00:00Z]%20info:%20all%20clear%1B[2J";

    [Fact]
    public async Task An_authorization_denial_logs_the_path_escaped()
    {
        var logs = new FakeLogCollector();
        await using var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "details",
            ["Mesh:Authorization:0:Action"] = "Allow",
            ["Mesh:Authorization:0:From:0"] = "frontend",
        }, a => a.MapGet("/{**rest}", () => "ok"), logs: new FakeLoggerProvider(logs));

        (await SendAsync(app)).ShouldBe(403);

        var line = logs.GetSnapshot().Single(e => e.Message.Contains("authorization denied", StringComparison.Ordinal)).Message;
        line.ShouldNotContain("\n");
        line.ShouldNotContain("\u001b");
        line.ShouldContain("/fake\\x0a[2026-01-01T00:00:00Z] info: all clear\\x1b[2J");
    }

    [Fact]
    public async Task A_rate_limit_refusal_logs_the_path_escaped()
    {
        var logs = new FakeLogCollector();
        await using var app = await MeshApp.StartAsync(new()
        {
            ["Mesh:Service:Name"] = "details",
            ["Mesh:RateLimits:0:Name"] = "all",
            ["Mesh:RateLimits:0:Limiter"] = "FixedWindow",
            ["Mesh:RateLimits:0:PermitLimit"] = "1",
            ["Mesh:RateLimits:0:Window"] = "01:00:00",
        }, a => a.MapGet("/{**rest}", () => "ok"), logs: new FakeLoggerProvider(logs));

        (await SendAsync(app)).ShouldBe(200);
        (await SendAsync(app)).ShouldBe(429);

        var line = logs.GetSnapshot().Single(e => e.Message.Contains("rate limit all refused", StringComparison.Ordinal)).Message;
        line.ShouldNotContain("\n");
        line.ShouldNotContain("\u001b");
        line.ShouldContain("/fake\\x0a[2026-01-01T00:00:00Z] info: all clear\\x1b[2J");
    }

    private static async Task<int> SendAsync(MeshApp app)
    {
        var target = new Uri(app.Client.BaseAddress!, new Uri(Forging, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true }).OriginalString);
        using var request = new HttpRequestMessage(HttpMethod.Get, target);
        using var response = await app.Client.SendAsync(request);
        return (int)response.StatusCode;
    }
}
