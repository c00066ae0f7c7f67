using System.Net;
using System.Security.Claims;
using Mesh.Client;
using Mesh.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mesh.AspNetCore.Tests.Security;

/// <summary>
/// <c>HttpContext.User</c> is per request in ASP.NET Core, and apps add to it (an end user's identity from a token, roles
/// from claims transformation). A mesh caller sends many end users' requests over one pooled connection, so what one
/// request adds to its principal must not be there for the next request on that connection.
/// </summary>
public sealed class CallerPrincipalTests : IDisposable
{
    private readonly TestCertificateAuthority _ca = new();

    public void Dispose() => _ca.Dispose();

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task What_one_request_adds_to_its_principal_is_not_on_the_next_request_of_the_connection(string version)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddMesh(o =>
        {
            o.Service.Name = "reviews";
            o.Security.Mode = MeshSecurityMode.Strict;
        });
        builder.Services.AddTestCertificateAuthority(_ca, "reviews");
        await using var app = builder.Build();
        app.UseMesh();
        app.MapGet("/as-admin", (HttpContext c) =>
        {
            // What an app does with an end user's token: the end user joins the calling service on the principal.
            c.User.AddIdentity(new ClaimsIdentity([new Claim(ClaimTypes.Role, "admin")], "end-user"));
            return c.User.IsInRole("admin") ? "admin" : "nobody";
        });
        app.MapGet("/whoami", (HttpContext c) => $"{c.User.Identity?.Name} admin={c.User.IsInRole("admin")} identities={c.User.Identities.Count()}");
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        using var certificate = _ca.IssueWorkload("productpage");
        using var http = new HttpClient(_ca.CreateDirectHandler(certificate, "reviews", maxConnectionsPerServer: 1))
        {
            BaseAddress = new Uri($"https://127.0.0.1:{port}/"),
            DefaultRequestVersion = Version.Parse(version),
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        (await http.GetStringAsync(new Uri("/as-admin", UriKind.Relative))).ShouldBe("admin");
        (await http.GetStringAsync(new Uri("/whoami", UriKind.Relative))).ShouldBe("productpage admin=False identities=1");
        (await http.GetStringAsync(new Uri("/whoami", UriKind.Relative))).ShouldBe("productpage admin=False identities=1");
        await app.StopAsync();
    }
}
