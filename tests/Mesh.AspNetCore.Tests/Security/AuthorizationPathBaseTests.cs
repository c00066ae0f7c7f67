using System.Net;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Tests.Security;

/// <summary>
/// Routing routes <c>Request.Path</c>, never the path base in front of it, and a path base need not be the app's own:
/// forwarded headers set it from <c>X-Forwarded-Prefix</c>, which the caller writes. So the base may add a denial
/// (a DENY rule written with it) but never an allowance: an ALLOW rule matches the path routing routes.
/// </summary>
public sealed class AuthorizationPathBaseTests : IDisposable
{
    private readonly TestCertificateAuthority _ca = new();

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task A_forwarded_prefix_does_not_turn_a_denied_path_into_an_allowed_one()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddMesh(o =>
        {
            o.Service.Name = "reviews";
            o.Security.Mode = MeshSecurityMode.Strict;
            o.Authorization.Add(new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, From = ["productpage"], Paths = ["/public/*"] });
        });
        builder.Services.AddTestCertificateAuthority(_ca, "reviews");
        builder.Services.Configure<ForwardedHeadersOptions>(o => o.ForwardedHeaders = ForwardedHeaders.XForwardedPrefix); // loopback is a known proxy
        await using var app = builder.Build();
        app.UseForwardedHeaders();
        app.UseMesh();
        var adminCalls = 0;
        app.MapGet("/public/{name}", (string name) => "public:" + name);
        app.MapGet("/admin/{id}", (string id) =>
        {
            Interlocked.Increment(ref adminCalls);
            return "admin:" + id;
        });
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        using var certificate = _ca.IssueWorkload("productpage");
        using var http = new HttpClient(_ca.CreateDirectHandler(certificate, "reviews")) { BaseAddress = new Uri($"https://127.0.0.1:{port}/") };

        (await http.GetStringAsync(new Uri("/public/x", UriKind.Relative))).ShouldBe("public:x");
        foreach (var prefix in new[] { "/public", "/PUBLIC/", "/public/x" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/admin/secret", UriKind.Relative));
            request.Headers.Add("X-Forwarded-Prefix", prefix);
            using var response = await http.SendAsync(request);
            response.StatusCode.ShouldBe(HttpStatusCode.Forbidden, prefix);
        }

        adminCalls.ShouldBe(0);
        await app.StopAsync();
    }
}
