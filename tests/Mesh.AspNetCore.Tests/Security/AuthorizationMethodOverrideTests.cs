using System.Net;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Tests.Security;

/// <summary>
/// <c>UseHttpMethodOverride()</c> rewrites a POST's method from <c>X-HTTP-Method-Override</c>, which the caller writes.
/// A <c>WebApplication</c> that does not call <c>UseRouting()</c> itself routes first, so the endpoint is chosen for the
/// method that arrived (POST) and the handler that runs is POST's, whatever method the mesh then reads. A DENY rule or
/// a rate limit that covers the method routing chose must hold however the method was rewritten afterwards.
/// </summary>
public sealed class AuthorizationMethodOverrideTests : IDisposable
{
    private readonly TestCertificateAuthority _ca = new();
    private readonly List<string> _handled = [];

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task A_method_rewritten_after_routing_does_not_escape_a_rule_covering_the_routed_method()
    {
        await using var app = await StartAsync(o =>
        {
            o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/*"] });
            o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/admin/*"], Methods = ["POST"] });
            o.RateLimits.Add(new RateLimitRuleOptions
            {
                Name = "exports", Paths = ["/export/*"], Methods = ["POST"], Limiter = RateLimiterKind.FixedWindow, PermitLimit = 1,
                Window = TimeSpan.FromHours(1),
            });
        });
        using var http = Caller(app, "productpage");

        foreach (var method in new[] { "GET", "get", "PUT", "DELETE", "HEAD" })
        {
            (await SendAsync(http, HttpMethod.Post, "/admin/x", method)).ShouldBe(HttpStatusCode.Forbidden, method);
        }

        (await SendAsync(http, HttpMethod.Get, "/admin/x", null)).ShouldBe(HttpStatusCode.OK);
        (await SendAsync(http, HttpMethod.Post, "/export/1", null)).ShouldBe(HttpStatusCode.OK);
        (await SendAsync(http, HttpMethod.Post, "/export/1", "GET")).ShouldBe(HttpStatusCode.TooManyRequests);
        _handled.ShouldBe(["GET admin", "POST export"]);
        await app.StopAsync();
    }

    [Fact]
    public async Task Rules_without_paths_cover_the_routed_method_too()
    {
        await using var app = await StartAsync(o =>
            o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, From = ["details"], Methods = ["POST"] }));
        using var http = Caller(app, "details");

        (await SendAsync(http, HttpMethod.Post, "/export/2", "GET")).ShouldBe(HttpStatusCode.Forbidden);
        (await SendAsync(http, HttpMethod.Get, "/admin/2", null)).ShouldBe(HttpStatusCode.OK);
        _handled.ShouldBe(["GET admin"]);
        await app.StopAsync();
    }

    private async Task<WebApplication> StartAsync(Action<MeshOptions> rules)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddMesh(o =>
        {
            o.Service.Name = "reviews";
            o.Security.Mode = MeshSecurityMode.Strict;
            rules(o);
        });
        builder.Services.AddTestCertificateAuthority(_ca, "reviews");
        var app = builder.Build();
        app.UseHttpMethodOverride();
        app.UseMesh();
        app.MapPost("/admin/{id}", (string id) => Handled("POST admin"));
        app.MapGet("/admin/{id}", (string id) => Handled("GET admin"));
        app.MapPost("/export/{id}", (string id) => Handled("POST export"));
        await app.StartAsync();
        return app;
    }

    private HttpClient Caller(WebApplication app, string service)
    {
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return new HttpClient(_ca.CreateDirectHandler(_ca.IssueWorkload(service), "reviews"), disposeHandler: true)
        {
            BaseAddress = new Uri($"https://127.0.0.1:{port}/"),
        };
    }

    private string Handled(string what)
    {
        lock (_handled)
        {
            _handled.Add(what);
        }

        return what;
    }

    private static async Task<HttpStatusCode> SendAsync(HttpClient http, HttpMethod method, string path, string? overrideMethod)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (overrideMethod is not null)
        {
            request.Headers.Add("X-HTTP-Method-Override", overrideMethod);
        }

        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }
}
